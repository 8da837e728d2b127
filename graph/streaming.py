"""Make a compiled graph stream tokens through LangServe.

A graph's own `.astream()` yields one state update per node; LangServe's
`/stream` would then send the whole answer at once. This wraps a graph run in a
runnable that yields the answer's tokens as the `generate` node produces them
(LangGraph's "messages" stream mode), then one closing chunk with the sources
and the stored message id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
from langchain_core.callbacks import BaseCallbackManager
from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.utils import AddableDict
from langgraph.graph.state import CompiledStateGraph
from langserve.callbacks import AsyncEventAggregatorCallback

from api.middleware import count_tokens
from graph.options import GraphOptions

ANSWER_NODE = "generate"

T = TypeVar("T")


async def in_own_task(source: AsyncIterator[T]) -> AsyncIterator[T]:
    """Iterate `source` in a task of its own, and cancel that task once when done.

    A client that disconnects makes Starlette cancel the response through an anyio
    cancel scope, which cancels every await of the cleanup as well; LangGraph's cleanup
    is then cut short and its node task, the LLM generating for nobody, runs to
    MAX_NEW_TOKENS. A plain asyncio task, cancelled once, unwinds properly and the LLM
    stops within a token.
    """
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=1)

    async def pump() -> None:
        try:
            async with aclosing(source) as items:  # type: ignore[type-var]
                async for item in items:
                    await queue.put((False, item))
            await queue.put((True, None))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put((True, exc))

    task = asyncio.create_task(pump())
    try:
        while True:
            done, value = await queue.get()
            if done:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(task, return_exceptions=True)


def without_unread_aggregator(config: RunnableConfig | None) -> RunnableConfig | None:
    """`config` without the event aggregator LangServe adds to every run.

    LangServe reads it only when a route has `include_callback_events` (none here), yet as
    an async handler that is not `run_inline` it costs every token a coroutine and a
    `gather`: bench/concurrency.py measured the server's CPU per token with and without it.
    """
    callbacks = (config or {}).get("callbacks")
    if isinstance(callbacks, list):
        kept: Any = [h for h in callbacks if not isinstance(h, AsyncEventAggregatorCallback)]
    elif isinstance(callbacks, BaseCallbackManager):
        kept = callbacks.copy()
        for handler in list(kept.handlers):
            if isinstance(handler, AsyncEventAggregatorCallback):
                kept.remove_handler(handler)
    else:
        return config
    return {**(config or {}), "callbacks": kept}


class GraphTokenStream(RunnableLambda):
    """The runnable LangServe iterates: each stream runs in a task of its own.

    It has to be the outermost iterator: langchain-core steps a RunnableLambda's
    inner generator through tasks of its own, so a cancellation arriving there
    never reaches the graph's cleanup.
    """

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        source = super().astream(input, without_unread_aggregator(config), **kwargs)
        async with aclosing(in_own_task(source)) as items:
            async for item in items:
                yield item

    async def astream_events(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        source = super().astream_events(input, config, **kwargs)
        async with aclosing(in_own_task(source)) as events:
            async for event in events:
                yield event


def source_entries(documents: list[Document]) -> list[dict[str, Any]]:
    """Numbered the way the prompt numbers them, so `[2]` in an answer means entry 2."""
    entries = []
    for number, doc in enumerate(documents, start=1):
        meta = dict(doc.metadata)
        entries.append(
            {
                "number": number,
                "id": meta.pop("id", None),
                "source": meta.pop("source", None),
                "title": meta.pop("title", None),
                "score": meta.pop("score", None),
                "page_content": doc.page_content,
                "metadata": meta,
            }
        )
    return entries


def token_stream(graph: CompiledStateGraph, options: GraphOptions) -> Runnable:
    """Text chunks for stages without history; `{"answer": ...}` chunks plus a closing
    `{"sources", "message_id", "session_id"}` chunk for the others."""
    structured = options.stored or options.returns_sources

    async def run_graph(payload: dict[str, Any], config: RunnableConfig) -> AsyncIterator[Any]:
        closing: dict[str, Any] = {}
        stream = graph.astream(
            {key: value for key, value in payload.items() if value is not None},
            config,
            stream_mode=["messages", "updates"],
        )
        async for mode, item in stream:
            if mode == "messages":
                chunk, metadata = item
                if metadata.get("langgraph_node") != ANSWER_NODE:
                    continue  # e.g. the condense call: never part of the answer
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    count_tokens()
                    yield AddableDict(answer=text) if structured else text
            else:
                for update in item.values():
                    if not update:
                        continue
                    if "documents" in update:
                        closing["sources"] = source_entries(update["documents"])
                    if update.get("message_id"):
                        closing["message_id"] = update["message_id"]
                    if update.get("session_id"):
                        closing["session_id"] = update["session_id"]
        if structured:
            if options.returns_sources:
                closing.setdefault("sources", [])
            yield AddableDict(closing)

    return GraphTokenStream(run_graph, name=graph.name or "ragchat")
