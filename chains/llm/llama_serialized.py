"""The embedded model answering one question at a time, in fair order (`LLM_PARALLEL=1`)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from langchain_community.chat_models import ChatLlamaCpp
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import ensure_config
from pydantic import PrivateAttr

from chains.llm.errors import LLMTimeout
from chains.llm.fair_order import Ticket
from chains.llm.from_stream import GeneratesFromStream
from chains.llm.queue import QUEUE_EVENT, QUEUE_KEY, ModelQueue, Place

DONE = object()
"""Relayed after an answer's last chunk (and its failure, if any)."""


@dataclass
class Failure:
    """Relayed when generation failed: the consumer raises it."""

    error: BaseException


def asker() -> str:
    """Who asks, from the metadata of the run calling the model (`QUEUE_KEY`):
    langchain-core hands `_astream` no config, but the calling runnable's is in context."""
    return str(ensure_config().get("metadata", {}).get(QUEUE_KEY) or "anonymous")


def _unwrap(item: ChatGenerationChunk | Failure) -> ChatGenerationChunk:
    if isinstance(item, Failure):
        raise item.error
    return item


class SerializedChatLlamaCpp(GeneratesFromStream, ChatLlamaCpp):
    """ChatLlamaCpp whose calls run one at a time, in fair order, on one worker thread.

    A llama.cpp context is not re-entrant, so every generation waits in one queue
    (`ModelQueue`: round-robin across askers, named by the run metadata `QUEUE_KEY`;
    we serialize rather than pool contexts: on two cores a second context would only
    halve the speed of each). A waiting call reports its place as the custom event
    `QUEUE_EVENT`. Streams relay tokens through a queue; when the consumer goes away
    a waiting call leaves the queue at once and a running one stops within one token.
    """

    timeout_seconds: float = 120.0
    _queue: ModelQueue = PrivateAttr(default_factory=ModelQueue)

    def _produce(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        emit: Any,
        cancelled: threading.Event,
    ) -> bool:
        """Runs on the worker thread: generate, hand each chunk to `emit`; True when the
        answer ran to its end (its time then says how long answers take)."""
        if cancelled.is_set():
            return False
        deadline = time.monotonic() + self.timeout_seconds
        stream = ChatLlamaCpp._stream(self, messages, stop=stop, run_manager=None, **kwargs)
        produced = 0
        try:
            for chunk in stream:
                if cancelled.is_set():
                    return False
                if time.monotonic() > deadline:
                    raise LLMTimeout(
                        f"the local model did not finish within {self.timeout_seconds:g} s"
                    )
                emit(chunk)
                produced += 1
        finally:
            stream.close()
        return produced > 1  # a one-token call (the warm-up) says nothing about answers

    def _submit(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        put: Any,
        cancelled: threading.Event,
    ) -> Ticket:
        """Queue one generation: its places while it waits, its chunks, then a failure if
        any, then `DONE` go to `put`.

        Who asks comes from the metadata of the run calling the model: langchain-core
        hands `_astream` no config, but the calling runnable's config is in context.
        """

        def job() -> bool:
            try:
                return self._produce(messages, stop, kwargs, put, cancelled)
            except BaseException as exc:  # noqa: BLE001 - relayed to the caller
                put(Failure(exc))
                return False
            finally:
                put(DONE)

        return self._queue.submit(asker(), job, put)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        relay: queue.Queue[Any] = queue.Queue()
        cancelled = threading.Event()
        ticket = self._submit(messages, stop, kwargs, relay.put, cancelled)
        try:
            while (item := relay.get()) is not DONE:
                if isinstance(item, Place):
                    with contextlib.suppress(RuntimeError):  # no run to report to
                        dispatch_custom_event(QUEUE_EVENT, item.as_event())
                    continue
                chunk = _unwrap(item)
                if run_manager:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        finally:
            cancelled.set()
            self._queue.withdraw(ticket)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        loop = asyncio.get_running_loop()
        relay: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(relay.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening
                cancelled.set()

        ticket = self._submit(messages, stop, kwargs, put, cancelled)
        try:
            while (item := await relay.get()) is not DONE:
                if isinstance(item, Place):
                    with contextlib.suppress(RuntimeError):  # no run to report to
                        await adispatch_custom_event(QUEUE_EVENT, item.as_event())
                    continue
                chunk = _unwrap(item)
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        finally:
            cancelled.set()
            self._queue.withdraw(ticket)  # a question still waiting leaves the queue now
