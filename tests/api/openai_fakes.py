"""Fakes and app factories for the OpenAI-compatible route's tests (logic tests only).

`live_app` is a uvicorn `--factory` target: the real local model with a fake
retriever, so a test in another process can see which filter reached retrieval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request, params
from langchain_core.documents import Document

from api.identity import ApiKeys, resolve_identity
from api.openai_compat import openai_router
from chains.filters import matches
from graph.resources import Resources
from server import create_app
from settings import Settings, get_settings

CORPUS = [
    Document("Cats sleep for most of the day.",
             metadata={"id": "c1", "source": "pets/cats.md", "title": "Cats", "year": 2023}),
    Document("Dogs like long walks.",
             metadata={"id": "d1", "source": "pets/dogs.md", "title": "Dogs", "year": 2024}),
    Document("Parrots can learn words.",
             metadata={"id": "p1", "source": "pets/parrots.md", "title": "Parrots", "year": 2025}),
]


class FakeRetriever:
    """A fake search backend: filters a fixed corpus with the reference evaluator and
    echoes the filter it received in each hit's metadata (`received_filter`)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def asearch(
        self, query: str, *, k: int, filter: dict[str, Any] | None, mode: str, alpha: float
    ) -> list[Document]:
        self.calls.append({"query": query, "k": k, "filter": filter, "mode": mode,
                           "alpha": alpha})
        hits = [doc for doc in CORPUS if matches(doc.metadata, filter)][:k]
        return [
            Document(doc.page_content, metadata={**doc.metadata, "score": 0.5,
                                                 "received_filter": json.dumps(filter)})
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


def auth_dependency(settings: Settings) -> params.Depends:
    """The server's authenticate dependency (server.py's two lines, over api.identity)."""
    keys = ApiKeys.from_settings(settings)

    async def authenticate(request: Request) -> None:
        request.state.user = resolve_identity(request, keys)

    return Depends(authenticate)


def openai_app(
    settings: Settings, resources: Resources, dependencies: Sequence[params.Depends] = ()
) -> FastAPI:
    """`create_app` with the `/v1` router; adds it only while server.py does not yet."""
    app = create_app(settings, resources)
    if not any(getattr(route, "path", "") == "/v1/chat/completions" for route in app.routes):
        app.include_router(openai_router(settings, resources, list(dependencies)))
    return app


def live_app() -> FastAPI:
    """uvicorn factory: settings from the environment, the real LLM, the fake retriever."""
    settings = get_settings()
    resources = Resources(settings=settings, retriever=FakeRetriever())
    return openai_app(settings, resources, [auth_dependency(settings)])
