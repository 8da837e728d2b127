"""The LangServe routes: one per stage of the graph, and `/retrieve`.

Each gets `invoke`, `batch`, `stream`, `stream_events`, the schemas and the playground,
whose `stream_log` serves the route as text (`api/playground.py`). Dependencies run in
order: guards (auth, rate limit, body), the input's own validation (422), then
readiness preflights, so a database or index that is down answers 503 before a stream
starts and its status is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langserve import add_routes
from pydantic import BaseModel

from api.guards import validated_input
from api.identity import server_config
from api.langserve_stream import stage_runnable
from api.middleware import count_tokens
from api.playground import ChunkSource, playground_runnable
from api.schemas import RetrievedChunk, retrieve_input_model, stage_schemas
from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from graph.streaming import answer_chunks
from settings import Settings

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

Retrieve = Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]]


def retrieve_chunks(resources: Resources) -> Retrieve:
    """The graph's retrieval step on its own: scored chunks for a query."""

    async def retrieve(payload: dict[str, Any]) -> list[dict[str, Any]]:
        settings = resources.settings
        documents = await resources.search_backend().asearch(
            payload["query"],
            k=payload.get("k") or settings.retrieval_k,
            filter=payload.get("filter"),
            mode=payload.get("mode") or "hybrid",
            alpha=payload.get("alpha"),
        )
        results = []
        for doc in documents:
            metadata = dict(doc.metadata)
            score = metadata.pop("score", 0.0)
            results.append({"page_content": doc.page_content, "metadata": metadata, "score": score})
        return results

    return retrieve


def one_chunk(retrieve: Retrieve) -> ChunkSource:
    async def chunks(payload: dict[str, Any], config: RunnableConfig) -> AsyncIterator[Any]:
        yield await retrieve(payload)

    return chunks


def add_route(
    app: FastAPI,
    path: str,
    runnable: Runnable,
    playground: Runnable,
    input_type: type[BaseModel],
    output_type: Any,
    dependencies: list[Any],
    preflights: list[Any],
) -> None:
    """`runnable` at `path`; `playground` answers the same input on `path/stream_log`.

    The playground's run has no preflights: what goes wrong is shown in its text.
    """
    common: dict[str, Any] = {
        "input_type": input_type,
        "output_type": output_type,
        "per_req_config_modifier": server_config,
    }
    checks = [*dependencies, validated_input(input_type)]
    add_routes(
        app,
        runnable.with_types(input_type=input_type, output_type=output_type),
        path=path,
        enabled_endpoints=ENABLED_ENDPOINTS,
        dependencies=checks + preflights,
        **common,
    )
    # LangServe serves one runnable per path and app: the text view goes on a router.
    log_router = APIRouter()
    add_routes(
        log_router,
        playground.with_types(input_type=input_type, output_type=str),
        path=path,
        enabled_endpoints=("stream_log",),
        dependencies=checks,
        **{**common, "output_type": str},
    )
    app.include_router(log_router)


def add_stage_routes(
    app: FastAPI, settings: Settings, resources: Resources, guards: list[Any]
) -> None:
    """A route per stage, then `/retrieve`; `guards` run first on each."""

    async def history_ready(request: Request) -> None:
        if request.method == "POST":  # schemas and the playground stay readable
            await resources.check_history()

    async def index_ready(request: Request) -> None:
        if request.method == "POST":
            await resources.check_index()

    schemas = stage_schemas(settings)
    for stage, options in STAGES.items():
        graph = build_graph(options, resources, name=stage)
        chunks = answer_chunks(graph, options, on_token=count_tokens)
        add_route(
            app,
            f"/{stage}",
            stage_runnable(graph, options),
            playground_runnable(chunks, stage),
            schemas[stage].input,
            schemas[stage].output,
            guards,
            ([Depends(history_ready)] if options.stored else [])
            + ([Depends(index_ready)] if options.retrieval else []),
        )
    retrieve = retrieve_chunks(resources)
    add_route(
        app,
        "/retrieve",
        RunnableLambda(retrieve, name="retrieve"),
        playground_runnable(one_chunk(retrieve), "retrieve"),
        retrieve_input_model(settings),
        list[RetrievedChunk],
        guards,
        [Depends(index_ready)],
    )
