"""LangServe glue: a graph's answer stream as the runnable a route serves.

`stage_runnable` wraps `graph.streaming.answer_chunks` in a runnable that LangServe can
stream, cancel and type, and counts tokens for the access log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.graph.state import CompiledStateGraph
from langserve.callbacks import AsyncEventAggregatorCallback

from api.middleware import count_tokens, note_fault, note_stage
from graph.options import GraphOptions
from graph.streaming import answer_chunks

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
    `gather` (bench/concurrency.py measures the server's CPU per token).
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

    def _measured(self, config: RunnableConfig | None) -> RunnableConfig | None:
        """Note the stage, for the request's per-stage metrics."""
        note_stage(self.name or "ragchat")
        return config

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """The whole answer; its places in the model's queue were for streams only."""
        output = await super().ainvoke(input, self._measured(config), **kwargs)
        if isinstance(output, dict):
            output.pop("queue", None)
        return output

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        config = self._measured(without_unread_aggregator(config))
        async with aclosing(_relayed(super().astream(input, config, **kwargs))) as items:
            async for item in items:
                yield item

    async def astream_events(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        source = super().astream_events(input, self._measured(config), **kwargs)
        async with aclosing(_relayed(source)) as events:
            async for event in events:
                yield event


async def _relayed(source: AsyncIterator[T]) -> AsyncIterator[T]:
    """`source` in a task of its own; a failure is noted for the stream's error event."""
    try:
        async with aclosing(in_own_task(source)) as items:
            async for item in items:
                yield item
    except Exception as exc:
        note_fault(exc)
        raise


def stage_runnable(
    graph: CompiledStateGraph, options: GraphOptions, *, places: bool | None = None
) -> Runnable:
    """What a stage's route serves: the graph's answer stream, token by token (`places`:
    see `answer_chunks`)."""
    chunks = answer_chunks(graph, options, on_token=count_tokens, places=places)
    return GraphTokenStream(chunks, name=graph.name or "ragchat")
