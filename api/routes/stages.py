"""The LangServe routes: one per stage of the graph, and `/retrieve`.

Each gets `invoke`, `batch`, `stream`, `stream_events`, the schemas and the playground.
Preflights run before a POST reaches the graph, so a database or index that is down
answers 503 before a stream starts and its status is sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from langchain_core.runnables import Runnable, RunnableLambda
from langserve import add_routes

from api.identity import server_config
from api.langserve_stream import stage_runnable
from api.schemas import RetrievedChunk, retrieve_input_model, stage_schemas
from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from settings import Settings

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


def retrieve_runnable(resources: Resources) -> Runnable:
    """The graph's retrieval step on its own: scored chunks for a query."""

    async def retrieve(payload: dict[str, Any]) -> list[dict[str, Any]]:
        settings = resources.settings
        alpha = payload.get("alpha")
        documents = await resources.search_backend().asearch(
            payload["query"],
            k=payload.get("k") or settings.retrieval_k,
            filter=payload.get("filter"),
            mode=payload.get("mode") or "hybrid",
            alpha=settings.hybrid_alpha if alpha is None else alpha,
        )
        results = []
        for doc in documents:
            metadata = dict(doc.metadata)
            score = metadata.pop("score", 0.0)
            results.append({"page_content": doc.page_content, "metadata": metadata, "score": score})
        return results

    return RunnableLambda(retrieve, name="retrieve")


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
        runnable = stage_runnable(build_graph(options, resources, name=stage), options)
        add_routes(
            app,
            runnable.with_types(input_type=schemas[stage].input, output_type=schemas[stage].output),
            path=f"/{stage}",
            input_type=schemas[stage].input,
            output_type=schemas[stage].output,
            enabled_endpoints=ENABLED_ENDPOINTS,
            per_req_config_modifier=server_config,
            dependencies=guards
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
        dependencies=[*guards, Depends(index_ready)],
    )
