"""The retriever the graph calls, and the one function that fences retrieved text as data.

`get_retriever(settings)` picks the backend from `VECTOR_BACKEND` ("local" or "pinecone",
the latter imported only when chosen). It raises `InvalidSearch` (bad k, mode, alpha or
filter; `FilterError` is one) and `IndexUnavailable`; the server maps them to 422 and 503.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from langchain_core.documents import Document

from chains.index.backend import MODES, IndexUnavailable, SearchBackend
from chains.index.filters import InvalidSearch, validate_filter
from chains.index.fusion import cap_per_source, query_alpha
from chains.index.local import LocalHybridIndex
from chains.models.embedding_model import embedding_model_name, query_backend
from chains.passages import PASSAGES_FORMAT, Passage, passage_texts
from chains.prompt_lines import fence_escape, passage_lines

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from chains.embeddings.factory import QueryVectors
    from settings import Settings

__all__ = [
    "IndexUnavailable",
    "InvalidSearch",
    "Retriever",
    "format_passages",
    "get_retriever",
    "reset_retrievers",
]


# With a per-page cap, the backend is asked for this many candidates per result wanted.
CANDIDATES_PER_RESULT = 4

# Called with the seconds each search took (embedding included): the server's metrics.
SEARCH_LISTENERS: list[Callable[[float], None]] = []


class Retriever:
    """Validates a request, embeds the query and searches the backend."""

    def __init__(
        self, settings: Settings, embeddings: Embeddings | None, backend: SearchBackend | None
    ) -> None:
        self.settings = settings
        self._embeddings = embeddings
        self._backend = backend
        self._query_vectors: QueryVectors | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> SearchBackend:
        # Opened on first use: the server starts even when the index cannot be read.
        with self._lock:
            if self._backend is None:
                self._backend = _open_backend(self.settings)
            return self._backend

    @property
    def embeddings(self) -> Embeddings:
        with self._lock:
            if self._embeddings is None:
                from chains.embeddings.factory import get_embeddings

                self._embeddings = get_embeddings(self.settings)
            return self._embeddings

    @property
    def query_vectors(self) -> QueryVectors:
        """The query model behind a cache of recent questions (shared with passage scoring)."""
        from chains.embeddings.factory import QueryVectors

        embeddings = self.embeddings
        with self._lock:
            if self._query_vectors is None:
                self._query_vectors = QueryVectors(embeddings)
            return self._query_vectors

    def _check(self, k: int, filter: dict | None, mode: str, alpha: float) -> dict | None:
        if not 1 <= k <= self.settings.max_k:
            raise InvalidSearch(f"k must be between 1 and {self.settings.max_k}, got {k}")
        if mode not in MODES:
            raise InvalidSearch(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not 0.0 <= alpha <= 1.0:
            raise InvalidSearch(f"alpha must be between 0 and 1, got {alpha}")
        return validate_filter(
            filter,
            max_depth=self.settings.max_filter_depth,
            max_nodes=self.settings.max_filter_nodes,
        )

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        filter: dict[str, Any] | None = None,
        mode: str = "hybrid",
        alpha: float | None = None,
    ) -> list[Document]:
        """Top-k documents; metadata holds the stored metadata plus `id` and `score`.

        Without an explicit `alpha`, the dense weight follows the question (see
        chains.index.fusion); `MAX_CHUNKS_PER_SOURCE` caps how many chunks one page gets.
        """
        settings = self.settings
        k = settings.retrieval_k if k is None else k
        if alpha is None:
            alpha = query_alpha(query, plain=settings.hybrid_alpha, code=settings.hybrid_alpha_code)
        checked = self._check(k, filter, mode, alpha)
        backend = self.backend
        if isinstance(backend, LocalHybridIndex) and len(backend) == 0:
            # Nothing to rank (a deployment before its first document): no need to load
            # the embedding model for the question.
            return []
        vector = None if mode == "sparse" else self.query_vectors(query)
        cap = settings.max_chunks_per_source
        fetch = k if cap is None else k * CANDIDATES_PER_RESULT
        hits = backend.search(vector, query, k=fetch, filter=checked, mode=mode, alpha=alpha)
        if cap is not None:
            sources = [hit.chunk.source for hit in hits]
            hits = [hits[i] for i in cap_per_source(range(len(hits)), sources, k, cap)]
        return [
            Document(
                page_content=hit.chunk.text,
                metadata={**hit.chunk.metadata, "id": hit.chunk.id, "score": hit.score},
            )
            for hit in hits
        ]

    def stored_passage_vectors(self, documents: Sequence[Document]) -> dict[str, np.ndarray]:
        """The vectors ingest stored for these chunks' passages, by passage text; empty for
        a backend that stores none (Pinecone), and without chunks it has none for."""
        backend = self.backend
        if not isinstance(backend, LocalHybridIndex):
            return {}
        keys = [(str(d.metadata.get("id", "")), d.page_content) for d in documents]
        stored = backend.passage_vectors(keys)
        vectors: dict[str, np.ndarray] = {}
        for chunk_id, text in keys:
            rows = stored.get(chunk_id)
            texts = passage_texts(text) if rows is not None else []
            if rows is not None and len(rows) == len(texts):
                vectors.update(zip(texts, rows, strict=True))
        return vectors

    async def asearch(
        self,
        query: str,
        *,
        k: int | None = None,
        filter: dict[str, Any] | None = None,
        mode: str = "hybrid",
        alpha: float | None = None,
    ) -> list[Document]:
        """`search` in a worker thread: embedding and scanning never block the event loop."""
        started = time.perf_counter()
        documents = await asyncio.to_thread(
            self.search, query, k=k, filter=filter, mode=mode, alpha=alpha
        )
        for listener in SEARCH_LISTENERS:
            listener(time.perf_counter() - started)
        return documents


def _open_backend(settings: Settings) -> SearchBackend:
    if settings.vector_backend == "pinecone":
        from chains.index.pinecone_backend import PineconeStore

        return PineconeStore.from_settings(settings)
    # One stat of the manifest per search (microseconds): a document is searchable the
    # moment the job or CLI run that wrote it ends, in every process. A missing index
    # reads as empty (a fresh deployment answers, and takes its first documents through
    # POST /documents); one that exists and cannot be read raises IndexUnavailable.
    return LocalHybridIndex.open(
        settings.index_dir,
        create=True,
        reload_interval=0.0,
        embedder=embedding_model_name(settings),
        passages_format=PASSAGES_FORMAT,
    )


_retrievers: dict[tuple, Retriever] = {}
_retrievers_lock = threading.Lock()


def get_retriever(settings: Settings) -> Retriever:
    """The process-wide retriever for these settings; never touches the index until used."""
    key = (
        settings.vector_backend,
        str(settings.index_dir.resolve()),
        settings.pinecone_index,
        settings.pinecone_namespace,
        settings.embedding_model,  # the name: a packaged model is joined on first use, not here
        query_backend(settings),
    )
    with _retrievers_lock:
        if key not in _retrievers:
            _retrievers[key] = Retriever(settings, None, None)
        return _retrievers[key]


def reset_retrievers() -> None:
    """Forget cached retrievers (tests, or after changing settings)."""
    with _retrievers_lock:
        _retrievers.clear()


def format_passages(passages: Sequence[Passage], fence: Literal["tags", "heading"] = "tags") -> str:
    """Fence passages as data for the prompt, each line with its source's number and place.

    A line reads `[n] <text> … <text> (from <title> › <section>)`
    (`chains.prompt_lines.passage_lines`, whose length the context budget counts), so the
    model sees which document, release or chapter a passage is about even when its text
    does not say.
    `tags` wraps them in `<passages>` with their text and headers escaped, so none can
    close the fence; `heading` only puts them under a heading, for the embedded 135M
    model, which copies tags into its answers (and follows no instruction well enough to
    be steered by one in a passage anyway).
    """
    if fence == "heading":
        return "Passages:\n" + "\n".join(passage_lines(passages))
    return "<passages>\n" + "\n".join(passage_lines(passages, fence_escape)) + "\n</passages>"
