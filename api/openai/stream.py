"""One completion as a sequence of events, then as SSE chunks or as one response object.

Both the streaming and the non-streaming route consume `answer_events`, so limits
(max_tokens), the sources footer and logging exist once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable

from api.errors import openai_error_body
from api.langserve_stream import in_own_task
from api.openai.errors import as_openai_error
from api.openai.request import ChatRun
from api.openai.schemas import chunk_object, completion_object
from graph.options import STAGES

log = logging.getLogger("ragchat.openai")


@dataclass(frozen=True)
class Queued:
    """The answer waits for the model: `place` is `{"ahead", "estimate_seconds"}`."""

    place: dict[str, Any]


@dataclass(frozen=True)
class Finish:
    """The last event: why the answer ended and, for RAG models, its sources."""

    reason: str  # "stop" or "length"
    sources: list[dict[str, Any]] | None


def source_label(source: dict[str, Any]) -> str:
    parts = [str(source[key]) for key in ("title", "source") if source.get(key)]
    return " — ".join(parts) or str(source.get("id") or "untitled")


def sources_footer(sources: list[dict[str, Any]]) -> str:
    """`\\n\\nSources:\\n[1] title — source`, numbered as the prompt numbered them."""
    lines = [f"[{s.get('number', i)}] {source_label(s)}" for i, s in enumerate(sources, 1)]
    return "\n\nSources:\n" + "\n".join(lines)


async def answer_events(
    runnable: Runnable, run: ChatRun, client: str
) -> AsyncIterator[str | Queued | Finish]:
    """Its places in the model's queue while it waits, text deltas, the sources footer,
    then one Finish.

    The run waits for the model as `run.user`, else as the `client` address.

    `max_tokens` counts streamed chunks (one token each from llama.cpp and TGI). Past
    it, a RAG model's stream is drained without forwarding text, because its sources
    arrive only when the graph run ends; other models stop generating at once.
    """
    returns_sources = STAGES[run.stage].returns_sources
    config = {
        "run_name": f"openai:{run.model}",
        "metadata": {"user": run.user},
        "configurable": {"user_id": run.user, "client": client},
    }
    sent, reason, sources = 0, "stop", None
    async with aclosing(in_own_task(runnable.astream(run.payload, config))) as stream:
        async for item in stream:
            if isinstance(item, str):
                text = item
            elif "queue" in item:
                yield Queued(item["queue"])
                continue
            else:
                text = item.get("answer") or ""
                sources = item.get("sources", sources)
            if not text:
                continue
            if sent >= run.max_tokens:
                reason = "length"
                if returns_sources:
                    continue
                break
            sent += 1
            yield text
    if sources and run.sources_footer:
        yield sources_footer(sources)
    yield Finish(reason, sources if returns_sources else None)


def _sse(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def queue_comment(place: dict[str, Any]) -> bytes:
    """An SSE comment, which OpenAI clients skip: `: queue {"ahead": 2, ...}`."""
    return f": queue {json.dumps(place)}\n\n".encode()


async def sse_chunks(
    first: str | Queued | Finish,
    rest: AsyncIterator[str | Queued | Finish],
    run: ChatRun,
    cid: str,
    created: int,
) -> AsyncIterator[bytes]:
    """OpenAI's stream: a role delta, content deltas, a finish chunk carrying `sources`,
    `[DONE]`; while the answer waits for the model, its places as SSE comments. A failure
    after the first byte can only be told in-band, as OpenAI does: a
    `data: {"error": ...}` event and no `[DONE]`."""
    yield _sse(chunk_object(cid, created, run.model, {"role": "assistant", "content": ""}))
    try:
        async with aclosing(rest):
            item = first
            while not isinstance(item, Finish):
                if isinstance(item, Queued):
                    yield queue_comment(item.place)
                else:
                    yield _sse(chunk_object(cid, created, run.model, {"content": item}))
                item = await anext(rest)
        extra = {} if item.sources is None else {"sources": item.sources}
        yield _sse(chunk_object(cid, created, run.model, {}, item.reason, **extra))
        yield _sse("[DONE]")
    except Exception as exc:  # noqa: BLE001 - reported to the client in OpenAI's shape
        error = as_openai_error(exc)
        log.warning(
            "openai stream failed (%s): %s",
            type(exc).__name__,
            error.message,
            exc_info=error.status == 500,
        )
        yield _sse(openai_error_body(error.status, error.message, code=error.code))


async def collect(
    first: str | Queued | Finish,
    rest: AsyncIterator[str | Queued | Finish],
    run: ChatRun,
    cid: str,
    created: int,
) -> dict[str, Any]:
    """The non-streaming response: the same events' text, joined."""
    texts: list[str] = []
    item = first
    async with aclosing(rest):
        while not isinstance(item, Finish):
            if isinstance(item, str):
                texts.append(item)
            item = await anext(rest)
    extra = {} if item.sources is None else {"sources": item.sources}
    return completion_object(cid, created, run.model, "".join(texts), item.reason, **extra)
