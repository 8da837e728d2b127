"""Each chunk's passage vectors, cut and embedded at ingest and stored with the chunk.

Focused context (`chains.passages.focus`) scores the passages of the retrieved chunks by
their embedding similarity to the question; with their vectors stored, a question costs
dot products instead of an embedding per passage. The passages themselves are not
stored: they are cut again from the chunk's text, and a chunk whose cut no longer gives
as many passages as it has vectors (or an index written with another cut, see
`LocalHybridIndex`) is embedded at query time as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PassageVectors:
    """Rows `offsets[i]:offsets[i + 1]` of `vectors` are chunk i's passages (none: empty).

    Stored as float16: half the memory of the chunk vectors' float32, and ranking a few
    dozen passages does not notice the difference.
    """

    offsets: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if len(self.offsets) == 0 or self.offsets[-1] != len(self.vectors):
            raise ValueError("passage offsets and vectors disagree")

    def __len__(self) -> int:
        """The number of chunks."""
        return len(self.offsets) - 1

    def of(self, row: int) -> np.ndarray:
        return self.vectors[self.offsets[row] : self.offsets[row + 1]].astype(np.float32)

    @classmethod
    def build(cls, per_chunk: Sequence[np.ndarray], dim: int) -> PassageVectors:
        counts = [len(v) for v in per_chunk]
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        parts = [np.asarray(v, dtype=np.float16).reshape(len(v), dim) for v in per_chunk]
        vectors = np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float16)
        return cls(offsets, vectors)

    def rows(self, keep: np.ndarray) -> list[np.ndarray]:
        """The passage vectors of the chunks at `keep` (row numbers), one array each."""
        return [self.vectors[self.offsets[i] : self.offsets[i + 1]] for i in keep]


def replaced(
    old: PassageVectors | None,
    keep: np.ndarray,
    added: Sequence[np.ndarray] | None,
    n_added: int,
    dim: int,
) -> PassageVectors | None:
    """The passage vectors after a write that keeps rows `keep` and adds `n_added` chunks.

    Chunks without any (added without, or kept from an index that had none) get none; an
    index that never had any and gets none stays without.
    """
    if old is None and added is None:
        return None
    if added is not None and len(added) != n_added:
        raise ValueError("need one array of passage vectors per chunk")
    empty = np.zeros((0, dim), dtype=np.float16)
    kept = old.rows(keep) if old is not None else [empty] * len(keep)
    return PassageVectors.build([*kept, *(added if added is not None else [empty] * n_added)], dim)
