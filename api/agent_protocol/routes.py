"""The Agent Protocol router: `/info`, assistants, and the thread and run routes.

Mounted at the root, as LangGraph Platform serves it, so `get_client(url=...)` and
`RemoteGraph(graph_id, url=...)` take the server's own URL.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.agent_protocol.assistants import assistant_object, resolve_assistant, search_assistants
from api.agent_protocol.registry import RunRegistry
from api.agent_protocol.runs import run_router
from api.agent_protocol.schemas import AssistantSearch
from api.agent_protocol.threads import thread_router
from graph.resources import Resources
from settings import Settings

# What `GET /info` says this server is: a subset, without LangGraph Platform's extras.
FLAGS = {
    "assistants": True,
    "crons": False,
    "langsmith": False,
    "langsmith_tracing_replicas": False,
}


def agent_protocol_router(
    settings: Settings, resources: Resources, dependencies: list[Any]
) -> APIRouter:
    registry = RunRegistry()
    router = APIRouter()
    assistants = APIRouter(dependencies=dependencies, tags=["agent protocol: assistants"])

    @assistants.get("/info")
    async def info() -> dict[str, Any]:
        return {"version": "ragchat-agent-protocol-subset", "flags": FLAGS, "metadata": {}}

    @assistants.post("/assistants/search")
    async def find_assistants(body: AssistantSearch) -> list[dict[str, Any]]:
        """One assistant per stage graph; `graph_id` is the route name."""
        return search_assistants(body.graph_id, body.metadata, body.limit, body.offset)

    @assistants.get("/assistants/{assistant_id}")
    async def get_assistant(assistant_id: str) -> dict[str, Any]:
        """By its id or its graph id, as LangGraph Platform accepts either."""
        return assistant_object(resolve_assistant(assistant_id))

    router.include_router(assistants)
    router.include_router(thread_router(registry, dependencies))
    router.include_router(run_router(settings, resources, registry, dependencies))
    return router
