"""Fakes, helpers and app factories for the OpenAI-compatible route's tests (logic only).

uvicorn `--factory` targets for tests/integration/test_openai_live.py: `live_app` (the
real local model, the fake retriever: another process can see which filter reached
retrieval), `slow_fake_app` (a slow fake model that prints its tokens), `real_app`
(everything real).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from chains.index.filters import matches
from chains.llm import LLMUnavailable
from graph.resources import Resources
from server import create_app
from settings import Settings, get_settings
from tests.conftest import FAKE_ANSWER, FakeChatModel

CORPUS = [
    Document(
        "Cats sleep for most of the day.",
        metadata={"id": "c1", "source": "pets/cats.md", "title": "Cats", "year": 2023},
    ),
    Document(
        "Dogs like long walks.",
        metadata={"id": "d1", "source": "pets/dogs.md", "title": "Dogs", "year": 2024},
    ),
    Document(
        "Parrots can learn words.",
        metadata={"id": "p1", "source": "pets/parrots.md", "title": "Parrots", "year": 2025},
    ),
]


class FakeRetriever:
    """A fake search backend: filters a fixed corpus with the reference evaluator and
    echoes the filter it received in each hit's metadata (`received_filter`)."""

    backend = None  # what the server's index preflight touches

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def asearch(
        self, query: str, *, k: int, filter: dict[str, Any] | None, mode: str, alpha: float
    ) -> list[Document]:
        self.calls.append({"query": query, "k": k, "filter": filter, "mode": mode, "alpha": alpha})
        hits = [doc for doc in CORPUS if matches(doc.metadata, filter)][:k]
        return [
            Document(
                doc.page_content,
                metadata={**doc.metadata, "score": 0.5, "received_filter": json.dumps(filter)},
            )
            for doc in hits
        ]


class FakeHistoryStore:
    """A fake history store that records any use: the OpenAI route must never touch it."""

    def __init__(self) -> None:
        self.used: list[str] = []

    async def get_user_chat_history(self, *args: Any, **kwargs: Any) -> list[Any]:
        self.used.append("get_user_chat_history")
        return []

    async def record_exchange(self, *args: Any, **kwargs: Any) -> None:
        self.used.append("record_exchange")

    async def close(self) -> None:
        pass


class SlowFakeChatModel(FakeChatModel):
    """A fake LLM that takes `delay` per token of a long answer and records, and prints
    (for a server's log), every token and when its stream was closed."""

    delay: float = 0.02
    events: list[str] = Field(default_factory=list)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        try:
            async for chunk in super()._astream(*args, **kwargs):
                await asyncio.sleep(self.delay)
                self._note("token")
                yield chunk
        finally:
            self._note("closed")

    def _note(self, event: str) -> None:
        self.events.append(event)
        print(f"fake model: {event}", flush=True)


def slow_fake_model(words: int = 400) -> SlowFakeChatModel:
    return SlowFakeChatModel(messages=itertools.cycle([AIMessage(" ".join(["word"] * words))]))


def slow_fake_app() -> FastAPI:
    """uvicorn factory: a slow fake LLM whose tokens show in the server's output."""
    settings = get_settings()
    return create_app(settings, Resources(settings=settings, llm=slow_fake_model()))


def live_app() -> FastAPI:
    """uvicorn factory: settings from the environment, the real LLM, the fake retriever."""
    settings = get_settings()
    resources = Resources(settings=settings, retriever=FakeRetriever())
    return create_app(settings, resources)


def real_app() -> FastAPI:
    """uvicorn factory: everything real (LLM, index under DATA_DIR), with the `/v1` router."""
    settings = get_settings()
    return create_app(settings, Resources(settings=settings))


class RecordingFakeChatModel(FakeChatModel):
    """Fake LLM that keeps the messages of every call, to check what reached the prompt."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self.seen.append(list(messages))
        yield from super()._stream(messages, stop, run_manager, **kwargs)


class Unreachable(FakeChatModel):
    """Fake LLM whose provider cannot be reached."""

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise LLMUnavailable("endpoint: connection refused")


def recording_llm() -> RecordingFakeChatModel:
    return RecordingFakeChatModel(messages=itertools.cycle([AIMessage(content=FAKE_ANSWER)]))


def ask(text: str = "Which pets?", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def access_users(caplog: pytest.LogCaptureFixture) -> list[str | None]:
    records = [r for r in caplog.records if r.name == "ragchat.access"]
    return [json.loads(r.getMessage())["user"] for r in records]


def stream_chunks(body: str) -> list[Any]:
    """OpenAI's SSE framing exactly: `data: <json>` events separated by a blank line."""
    events = body.split("\n\n")
    assert events[-1] == "", "the stream must end with a blank line"
    assert all(event.startswith("data: ") for event in events[:-1]), events
    return [e.removeprefix("data: ") for e in events[:-1]]


def fake_resources(settings: Settings) -> Resources:
    """A recording fake LLM, the fake retriever, and a history store that must stay unused."""
    return Resources(
        settings=settings,
        llm=recording_llm(),
        retriever=FakeRetriever(),
        history=FakeHistoryStore(),  # type: ignore[arg-type]
    )
