"""What every index backend promises (the embedded index and Pinecone), and how it fails."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from chains.index.chunks import Chunk, ScoredChunk

MODES = ("dense", "sparse", "hybrid")


# What every "built by something else" message ends with.
REBUILD = "rebuild it with `ragchat ingest --rebuild PATH...`"


class IndexUnavailable(RuntimeError):
    """The index is unreadable or unreachable (or, for tools that only read, missing);
    RAG routes answer 503, others work. A server reads a missing local index as empty."""


def embedder_mismatch(recorded: str | None, current: str | None) -> str | None:
    """Why an index written by model `recorded` cannot serve model `current`; None if it can.

    Either side unknown (an index from before the record, a test's synthetic vectors)
    checks nothing: the dimension check still catches most other models.
    """
    if not recorded or not current or recorded == current:
        return None
    return f"was built with embedding model {recorded!r} and EMBEDDING_MODEL is {current!r}"


class SearchBackend(Protocol):
    """The read side: what the retriever calls."""

    def search(
        self,
        query_vector: np.ndarray | None,
        query_text: str,
        *,
        k: int,
        filter: dict[str, Any] | None,
        mode: str,
        alpha: float,
    ) -> list[ScoredChunk]: ...

    def stats(self) -> dict[str, Any]: ...


class ChunkStore(SearchBackend, Protocol):
    """The write side as well: what ingest needs."""

    # `passage_vectors`: each chunk's passages' vectors, for a backend that stores them
    # (the local index; Pinecone ignores them).
    def upsert(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> None: ...
    def replace_all(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> None: ...
    def delete_source(self, source: str) -> int: ...
