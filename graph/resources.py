"""The long-lived things nodes use (LLM, history store, retriever), built lazily once.

Tests pass fakes here; the server and `langgraph.json` let them come from settings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from chains.embeddings.factory import EmbeddingCache
from chains.history import HistoryStore
from chains.index.local import LocalHybridIndex
from chains.llm import get_chat_model
from chains.models.embedding_model import check_embedding_model
from chains.retrieval import Retriever, get_retriever
from settings import Settings, get_settings


@dataclass
class Resources:
    settings: Settings = field(default_factory=get_settings)
    llm: BaseChatModel | None = None
    history: HistoryStore | None = None
    retriever: Retriever | None = None
    _history_lock: asyncio.Lock | None = field(default=None, repr=False)
    _passages: EmbeddingCache | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # An embedding model that cannot serve is refused when the app is built, not at
        # the first question.
        check_embedding_model(self.settings)

    def chat_model(self) -> BaseChatModel:
        if self.llm is None:
            self.llm = get_chat_model(self.settings)
        return self.llm

    async def history_store(self) -> HistoryStore:
        """The history store, started on first use (outside the server too).

        A store whose database was down at start is kept: it creates its schema on
        the first call that reaches the database, so the server recovers by itself.
        """
        if self.history is not None:
            return self.history
        if self._history_lock is None:
            self._history_lock = asyncio.Lock()
        async with self._history_lock:
            if self.history is None:
                store = HistoryStore.from_settings(self.settings)
                self.history = store
                await store.start()
        return self.history

    async def check_history(self) -> None:
        """Raise DatabaseUnavailable now, before a stream starts and its status is sent."""
        store = await self.history_store()
        await store.ping()

    def passage_embedder(self) -> EmbeddingCache | None:
        """The query model behind a cache, for scoring passages; None if the retriever has
        no embeddings (a test's fake): passages are then scored by their words alone."""
        if self._passages is None:
            backend = self.search_backend()
            embeddings = getattr(backend, "embeddings", None)
            if embeddings is not None:
                queries = getattr(backend, "query_vectors", None)
                self._passages = EmbeddingCache(embeddings, query_vectors=queries)
        return self._passages

    def search_backend(self) -> Retriever:
        if self.retriever is None:
            self.retriever = get_retriever(self.settings)
        return self.retriever

    async def check_index(self) -> None:
        """Raise IndexUnavailable now, before a stream starts and its status is sent."""
        retriever = self.search_backend()

        def current() -> None:
            backend = retriever.backend
            if isinstance(backend, LocalHybridIndex):
                # Opened while missing (empty), the index may have been written since in
                # a form this process cannot read: reading its current version tells.
                len(backend)

        await asyncio.to_thread(current)

    async def index_stats(self) -> dict[str, Any]:
        """The backend's own stats (paths included); IndexUnavailable if it cannot be read."""
        retriever = self.search_backend()
        return await asyncio.to_thread(lambda: retriever.backend.stats())

    async def aclose(self) -> None:
        if self.history is not None:
            await self.history.close()
            self.history = None
