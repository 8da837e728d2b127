"""The unit of retrieval shared by ingest, both index backends and the retriever."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MetadataValue = str | int | float | bool | list[str]
# Set by the Pinecone backend on each record: which write of its source it belongs to.
REVISION_KEY = "doc_revision"


def chunk_id(source: str, index: int) -> str:
    """Deterministic id, so re-ingesting a source overwrites its chunks instead of adding."""
    return hashlib.sha256(f"{source}\x00{index}".encode()).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A piece of a source document with its metadata (`source`, `title`, `chunk`, ...)."""

    text: str
    metadata: dict[str, MetadataValue]
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            source = str(self.metadata.get("source", ""))
            index = int(self.metadata.get("chunk", 0))  # type: ignore[arg-type]
            object.__setattr__(self, "id", chunk_id(source, index))

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", ""))


@dataclass(frozen=True)
class ScoredChunk:
    """A search hit: `score` is the fused score, in [-1, 1] for dense and [0, 1) for sparse."""

    chunk: Chunk
    score: float
