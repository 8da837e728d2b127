"""Every route of the API, in the order the OpenAPI page lists them."""

from __future__ import annotations

from fastapi import FastAPI

from api.agent_protocol.routes import agent_protocol_router
from api.guards import build_guards
from api.identity import ApiKeys
from api.openai.routes import openai_router
from api.routes.documents import documents_router
from api.routes.health import LLMStatus, health_router
from api.routes.history import history_router
from api.routes.index import index_router
from api.routes.login import login_router
from api.routes.stages import add_stage_routes
from chains.documents.service import Documents
from graph.resources import Resources
from settings import Settings


def include_routes(
    app: FastAPI,
    settings: Settings,
    resources: Resources,
    keys: ApiKeys,
    llm: LLMStatus,
    documents: Documents,
) -> None:
    guards = build_guards(settings, keys)
    app.include_router(health_router(settings, llm, keys, resources))
    app.include_router(login_router(keys, guards.anonymous))
    add_stage_routes(app, settings, resources, guards.langserve)
    app.include_router(history_router(guards.rest))
    app.include_router(index_router(resources, guards.rest))
    app.include_router(documents_router(settings, documents, guards.rest))
    app.include_router(openai_router(settings, resources, guards.rest))
    app.include_router(agent_protocol_router(settings, resources, guards.rest))
