"""Each chunk's passages embedded at ingest, for the local index to store with the chunk.

Focused context (`chains.passages.focus`) then scores a question's passages with dot
products instead of embedding each one while the asker waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from chains.embeddings.factory import embed_texts
from chains.index.backend import ChunkStore
from chains.index.chunks import Chunk
from chains.index.local import LocalHybridIndex
from chains.passages import PASSAGES_FORMAT, passage_texts

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = ["PASSAGES_FORMAT", "passage_vectors"]


def passage_vectors(
    chunks: list[Chunk], store: ChunkStore, embeddings: Embeddings
) -> list[np.ndarray] | None:
    """One array of passage vectors per chunk, in `passage_texts` order; None for a store
    that keeps none (Pinecone)."""
    if not isinstance(store, LocalHybridIndex) or not chunks:
        return None
    texts = [passage_texts(c.text) for c in chunks]
    flat = [t for chunk_texts in texts for t in chunk_texts]
    if not flat:
        return [np.zeros((0, 0), dtype=np.float32)] * len(chunks)
    return np.split(embed_texts(embeddings, flat), np.cumsum([len(t) for t in texts])[:-1])
