"""The ragchat HTTP server: app factory, routes, auth dependency, error mapping.

No business logic lives here: stages are graphs from `graph/`, storage and
retrieval are chains from `chains/`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from langserve import add_routes

from api.errors import install_error_handlers
from api.identity import ApiKeys, resolve_identity, server_config
from api.limits import BodySizeLimit, langserve_body_guard
from api.middleware import ConcurrencyLimit, RequestLog, note_user
from api.openai_compat import openai_router
from api.ratelimit import build_buckets, rate_limit_guard
from api.schemas import RetrievedChunk, retrieve_input_model, stage_schemas
from api.sessions import sessions_router
from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from graph.search import retrieve_runnable
from graph.streaming import token_stream
from settings import Settings, get_settings

log = logging.getLogger("ragchat.server")

# /stream_log is left out on purpose: GHSA-c67j-w6g6-q2cm named astream_log as a
# vulnerable path, and no client of ours needs it.
ENABLED_ENDPOINTS = (
    "invoke",
    "batch",
    "stream",
    "stream_events",
    "playground",
    "input_schema",
    "output_schema",
    "config_schema",
)


def _model_label(settings: Settings) -> str:
    model = settings.resolved_llm_model
    return Path(model).name if settings.llm_provider == "local" else model


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or get_settings()
    resources = resources or Resources(settings=settings)
    keys = ApiKeys.from_settings(settings)
    llm_state: dict[str, Any] = {"loaded": False, "error": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            "auth is %s",
            "on (API keys)"
            if keys.enabled
            else "off: the body's username identifies the user; set API_KEYS to require keys",
        )
        try:
            await asyncio.to_thread(resources.chat_model)
            llm_state["loaded"] = True
        except Exception as exc:  # noqa: BLE001 - the server still serves /health and errors
            llm_state["error"] = str(exc)
            log.error("LLM not loaded: %s", exc)
        yield
        await resources.aclose()

    app = FastAPI(
        title="ragchat",
        version="0.1.0",
        description="Streaming chat over your own documents (LangServe + LangGraph).",
        lifespan=lifespan,
    )
    # Starlette runs the last added outermost: log ← concurrency cap ← body size ← app.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(RequestLog)
    app.state.resources = resources
    install_error_handlers(app)

    async def authenticate(request: Request) -> None:
        request.state.user = resolve_identity(request, keys)
        note_user(request.state.user)

    route_dependencies = [
        Depends(authenticate),
        Depends(rate_limit_guard(build_buckets(settings))),
        Depends(langserve_body_guard(settings.max_batch_size)),
    ]

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"Hello": "World!"}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok" if llm_state["loaded"] else "degraded",
            "llm": {
                "provider": settings.llm_provider,
                "model": _model_label(settings),
                "loaded": llm_state["loaded"],
                "error": llm_state["error"],
            },
            "auth": keys.enabled,
        }

    # Preflights run on the POST routes only: schemas and the playground stay readable.
    async def history_ready(request: Request) -> None:
        if request.method == "POST":
            await resources.check_history()

    async def index_ready(request: Request) -> None:
        if request.method == "POST":
            await resources.check_index()

    schemas = stage_schemas(settings)
    for stage, options in STAGES.items():
        graph = build_graph(options, resources, name=stage)
        add_routes(
            app,
            token_stream(graph, options).with_types(
                input_type=schemas[stage].input, output_type=schemas[stage].output
            ),
            path=f"/{stage}",
            input_type=schemas[stage].input,
            output_type=schemas[stage].output,
            enabled_endpoints=ENABLED_ENDPOINTS,
            per_req_config_modifier=server_config,
            dependencies=route_dependencies
            + ([Depends(history_ready)] if options.stored else [])
            + ([Depends(index_ready)] if options.retrieval else []),
        )
    add_routes(
        app,
        retrieve_runnable(resources),
        path="/retrieve",
        input_type=retrieve_input_model(settings),
        output_type=list[RetrievedChunk],
        enabled_endpoints=ENABLED_ENDPOINTS,
        per_req_config_modifier=server_config,
        dependencies=[*route_dependencies, Depends(index_ready)],
    )
    # REST and /v1 take auth + rate limit; the body guard is about LangServe's own fields.
    app.include_router(sessions_router(resources, route_dependencies[:2]))
    app.include_router(openai_router(settings, resources, route_dependencies[:2]))
    return app
