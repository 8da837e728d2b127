"""Assistants: one per stage graph, fixed at start; `graph_id` is the route name.

LangGraph Platform gives each graph a default assistant whose id is a UUID and accepts
the graph id in its place (`RemoteGraph("chat", ...)`, agent-chat-ui's "agent"). The
same here: the id is a UUID derived from the graph id, so it is stable across restarts
and processes, and either may be used.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from api.errors import AssistantNotFound
from graph.options import STAGES

# Any fixed namespace will do; this one only has to never change.
_NAMESPACE = uuid.UUID("6f1c7d52-2f39-4b1e-9a55-7261676368a7")
_CREATED = datetime(2026, 1, 1, tzinfo=UTC).isoformat()

DESCRIPTIONS = {
    "simple": "the raw question to the model",
    "formatted": "system prompt and template, no history",
    "history": "the stored conversation in the prompt",
    "rag": "history and dense retrieval, cited sources",
    "filtered_rag": "history, hybrid retrieval and a metadata filter",
    "chat": "history, hybrid retrieval, filter, mode and alpha per request",
}


def assistant_id(graph_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, graph_id))


ASSISTANT_IDS: dict[str, str] = {assistant_id(stage): stage for stage in STAGES}


def resolve_assistant(reference: str) -> str:
    """The graph id of an assistant named by its id or its graph id."""
    if reference in STAGES:
        return reference
    if reference in ASSISTANT_IDS:
        return ASSISTANT_IDS[reference]
    raise AssistantNotFound(f"no assistant {reference!r}; the graphs are {', '.join(STAGES)}")


def assistant_object(graph_id: str) -> dict[str, Any]:
    """An assistant as `langgraph_sdk.schema.Assistant` describes it."""
    return {
        "assistant_id": assistant_id(graph_id),
        "graph_id": graph_id,
        "name": graph_id,
        "description": DESCRIPTIONS.get(graph_id),
        "config": {},
        "context": {},
        "metadata": {"created_by": "system"},
        "version": 1,
        "created_at": _CREATED,
        "updated_at": _CREATED,
    }


def search_assistants(
    graph_id: str | None, metadata: dict[str, Any] | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    found = [
        assistant_object(stage)
        for stage in STAGES
        if graph_id in (None, stage)
        and all(
            assistant_object(stage)["metadata"].get(k) == v for k, v in (metadata or {}).items()
        )
    ]
    return found[offset : offset + limit]
