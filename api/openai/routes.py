"""OpenAI-compatible routes over the ragchat graphs: `/v1/chat/completions`, `/v1/models`.

Any OpenAI client (the `openai` SDKs, Open WebUI, LangChain's ChatOpenAI, LiteLLM)
can chat with ragchat through these. The protocol is stateless, so each request
runs a stage's graph built with `persist=False`: the conversation comes in the
messages array and nothing is stored in the history database.

Sources: RAG models (`ragchat-rag`, `ragchat-chat`) return them in an extra
`sources` field (on the response object, or on the final chunk, the one with
`finish_reason`, when streaming), and, unless `sources_footer` is false, as a
numbered "Sources:" list at the end of the text for clients that show only text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, params
from fastapi.responses import JSONResponse, Response, StreamingResponse
from langchain_core.runnables import Runnable

from api.body import json_body
from api.errors import openai_error_body
from api.identity import client_address
from api.langserve_stream import stage_runnable
from api.middleware import note_user
from api.openai.errors import OpenAIRoute
from api.openai.request import MODELS, parse_chat_request, resolve_model
from api.openai.schemas import ChatCompletionRequest, completion_id, model_object, now
from api.openai.stream import Queued, answer_events, collect, sse_chunks
from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from settings import Settings

# Proxies (nginx) must pass each chunk on at once; clients must not cache a stream.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"example": openai_error_body(status, description)}},
    }
    for status, description in [
        (400, "invalid or unsupported request"),
        (401, "missing or invalid API key"),
        (404, "unknown model"),
        (413, "request body too large"),
        (503, "the LLM or the document index is unavailable"),
    ]
}


def queue_headers(first: object) -> dict[str, str]:
    """`X-Ragchat-Queue-Ahead` (and `-Estimate-Seconds`) when the answer starts queued."""
    if not isinstance(first, Queued):
        return {}
    headers = {"X-Ragchat-Queue-Ahead": str(first.place.get("ahead"))}
    if first.place.get("estimate_seconds") is not None:
        headers["X-Ragchat-Queue-Estimate-Seconds"] = str(first.place["estimate_seconds"])
    return headers


def _stateless_runnables(resources: Resources) -> dict[str, Runnable]:
    """One token-streaming graph per model, without database history."""
    runnables = {}
    for model, stage in MODELS.items():
        options = replace(STAGES[stage], persist=False)
        graph = build_graph(options, resources, name=f"openai_{stage}")
        runnables[model] = stage_runnable(graph, options, places=True)
    return runnables


def openai_router(
    settings: Settings, resources: Resources, dependencies: Sequence[params.Depends]
) -> APIRouter:
    """The `/v1` router; `dependencies` are the server's own (auth, limits), as for LangServe."""
    runnables = _stateless_runnables(resources)
    created = int(time.time())
    router = APIRouter(
        prefix="/v1",
        tags=["OpenAI-compatible"],
        dependencies=list(dependencies),
        route_class=OpenAIRoute,
        responses=_ERROR_RESPONSES,
    )

    @router.get("/models")
    async def list_models() -> dict[str, Any]:
        """The ragchat stages, as OpenAI models."""
        return {"object": "list", "data": [model_object(m, created) for m in MODELS]}

    @router.get("/models/{model_id}")
    async def get_model(model_id: str) -> dict[str, Any]:
        return model_object(resolve_model(model_id), created)

    @router.post("/chat/completions", response_model=None, dependencies=[json_body()])
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        """A chat completion from the model's stage; `stream: true` answers with SSE chunks.

        ragchat's fields, sent with `extra_body`: `filter` (or `metadata.filter`), `k`,
        `mode`, `alpha` (ragchat-chat) and `sources_footer`.
        """
        run = parse_chat_request(
            body, settings, authenticated_user=getattr(request.state, "user", None)
        )
        note_user(run.user)  # the access log's user: the key's, else the body's `user`
        if STAGES[run.stage].retrieval:
            await resources.check_index()  # 503 now rather than after the condense call
        events = answer_events(runnables[run.model], run, client_address(request))
        # Wait for the first event before answering, so a failure before any text
        # (LLM or index unavailable) gets its status code, not a 200 with an error inside.
        # An answer that has to wait for the model starts at once, telling its place.
        first = await anext(events)
        cid, stamp = completion_id(), now()
        if run.stream:
            return StreamingResponse(
                sse_chunks(first, events, run, cid, stamp),
                media_type="text/event-stream",
                headers={**STREAM_HEADERS, **queue_headers(first)},
            )
        return JSONResponse(await collect(first, events, run, cid, stamp))

    return router
