"""LocalHybridIndex: the embedded, persistent dense + BM25 index with metadata filters.

Fusion rule (shared with the Pinecone backend): `score = alpha * cosine + (1 - alpha) * bm25`,
where the BM25 side is scaled into [0, 1) by `chains.index.sparse`. Modes: "dense" (alpha = 1),
"sparse" (alpha = 0, only chunks sharing a term with the query), "hybrid".

A process loads the current version once and then checks the manifest at most every
`reload_interval` seconds (one stat); when a writer has flipped it, the new version is loaded
and swapped in while searches keep using the old one.

The manifest records the embedding model that wrote the vectors (`embedder`): an index
opened with another one is refused, even when both models make vectors of one dimension.
It also records how the stored passage vectors were cut (`passages`,
`chains.passages.PASSAGES_FORMAT`): an index whose passages were cut otherwise, or that has
none (written before they were stored), still serves; its passages are embedded at query
time until it is rebuilt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chains.index import files as index_files
from chains.index import sparse
from chains.index.backend import REBUILD, IndexUnavailable, embedder_mismatch
from chains.index.chunks import Chunk, ScoredChunk
from chains.index.snapshot import Snapshot

log = logging.getLogger(__name__)


class IndexMismatch(ValueError):
    """The index was written by another tokenizer or embedding model than this process uses."""


class LocalHybridIndex:
    """Exact-scan hybrid index persisted under one folder (see chains.index.files).

    `embedder` names the embedding model of this process: it is recorded by writers and
    checked by readers (None checks nothing: tests and benches with synthetic vectors).
    `passages_format` likewise names how this process cuts passages: stored passage
    vectors of another cut are not used (None uses whatever is stored).
    """

    def __init__(
        self,
        path: Path,
        *,
        reload_interval: float = 0.5,
        embedder: str | None = None,
        passages_format: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.reload_interval = reload_interval
        self.embedder = embedder
        self.passages_format = passages_format
        self._snapshot: Snapshot | None = None
        self._signature: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        # Why the current version on disk was not loaded (None once one loads): readers
        # serve the version they hold; writers refuse to write over what they cannot read.
        self._unusable: Exception | None = None

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = False,
        reload_interval: float = 0.5,
        embedder: str | None = None,
        passages_format: str | None = None,
    ) -> LocalHybridIndex:
        """Open the index at `path`; with `create`, a missing index opens empty (for writers,
        and for a server before its first document: it reads the first version once one
        is published).

        Raises IndexUnavailable if it is missing (and not `create`), unreadable, or written
        by another tokenizer or embedding model.
        """
        index = cls(
            Path(path),
            reload_interval=reload_interval,
            embedder=embedder,
            passages_format=passages_format,
        )
        index._reload(force=True)
        if index._snapshot is None:
            if not create:
                raise IndexUnavailable(
                    f"no index at {index.path}: ingest documents first (ragchat ingest PATH)"
                )
            index._snapshot = Snapshot.empty()
        return index

    # --- reading ----------------------------------------------------------------
    def _load_current(self) -> Snapshot | None:
        """Load the version the manifest names; retry once if it was pruned meanwhile."""
        for attempt in range(2):
            try:
                manifest = index_files.read_manifest(self.path)
                if manifest is None:
                    return None
                stale = sparse.tokenizer_mismatch(manifest.get("tokenizer"))
                if stale:
                    raise IndexMismatch(f"{stale}: {REBUILD}")
                mismatch = embedder_mismatch(manifest.get("embedder"), self.embedder)
                if mismatch:
                    raise IndexMismatch(f"{mismatch}: {REBUILD}")
                snapshot = Snapshot.load(index_files.version_dir(self.path, manifest))
                if len(snapshot) != manifest.get("count"):
                    raise ValueError("chunk count differs from the manifest")
                cut = manifest.get("passages")
                if self.passages_format is not None and cut != self.passages_format:
                    snapshot.passages = None  # cut otherwise: embedded at query time
                return snapshot
            except FileNotFoundError:
                if attempt:
                    raise
        return None

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self.reload_interval:
            return
        with self._lock:
            self._checked_at = now
            signature = index_files.manifest_signature(self.path)
            if signature == self._signature and (self._snapshot is not None or not force):
                return
            try:
                snapshot = self._load_current()
            except Exception as exc:  # any unreadable file means a corrupt index
                self._signature = signature
                self._unusable = exc
                if not self._read_from_disk():
                    raise self._unavailable() from exc
                # The version in memory was readable by this process: serve it, and say why.
                log.warning(
                    "keeping index version %s: the new one is not usable here: %s",
                    self._snapshot.version,
                    exc,
                )
                return
            self._signature = signature
            self._unusable = None
            if snapshot is not None:
                self._snapshot = snapshot

    def _unavailable(self) -> IndexUnavailable:
        exc = self._unusable
        if isinstance(exc, IndexMismatch):
            return IndexUnavailable(f"the index at {self.path} {exc}")
        return IndexUnavailable(f"index at {self.path} is unreadable ({exc}); {REBUILD}")

    def _read_from_disk(self) -> bool:
        """Whether the version in memory was loaded or written here (not the empty stand-in
        of a missing index): only such a version is served when a newer one is unusable."""
        return self._snapshot is not None and bool(self._snapshot.version)

    def _current(self) -> Snapshot:
        self._reload()
        snapshot = self._snapshot
        if snapshot is None:
            raise IndexUnavailable(f"no index at {self.path}: ingest documents first")
        if self._unusable is not None and not self._read_from_disk():
            # An index that exists and cannot be read is down, not empty.
            raise self._unavailable() from self._unusable
        return snapshot

    def snapshot(self) -> Snapshot:
        """The current in-memory version (immutable; for benches and tools)."""
        return self._current()

    def __len__(self) -> int:
        return len(self._current())

    def search(
        self,
        query_vector: np.ndarray | None,
        query_text: str,
        *,
        k: int,
        filter: dict[str, Any] | None = None,
        mode: str = "hybrid",
        alpha: float = 0.5,
    ) -> list[ScoredChunk]:
        """Top-k chunks by the fused score; `filter` must be validated (chains.index.filters)."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        snapshot = self._current()
        if query_vector is not None and len(snapshot):
            check_dimensions(len(np.ravel(query_vector)), snapshot.vectors.shape[1])
        return snapshot.search(query_vector, query_text, k=k, filter=filter, mode=mode, alpha=alpha)

    def passage_vectors(self, chunks: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        """The stored passage vectors of the chunks given as (id, text), by id; a chunk
        this version does not hold with that text, or holds without passages, is left out."""
        snapshot = self._current()
        found = {}
        for chunk_id, text in chunks:
            vectors = snapshot.passage_vectors(chunk_id, text)
            if vectors is not None:
                found[chunk_id] = vectors
        return found

    def stats(self) -> dict[str, Any]:
        """Totals and, per metadata key, how many chunks hold each value."""
        snapshot = self._current()
        source = snapshot.meta.columns.get("source")
        return {
            "path": str(self.path),
            "version": snapshot.version,
            "chunks": len(snapshot),
            "sources": len(source.counts()) if source is not None else 0,
            "dim": int(snapshot.vectors.shape[1]),
            "terms": len(snapshot.terms),
            "metadata": snapshot.meta.stats(),
        }

    # --- writing ------------------------------------------------------------------
    def _write(
        self,
        remove_sources: set[str],
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> int:
        """Read the newest version under the lock, replace rows, write a new version."""
        with index_files.write_lock(self.path):
            self._reload(force=True)
            if self._unusable is not None:  # writing on the old version would undo the new
                raise self._unavailable() from self._unusable
            base = self._snapshot or Snapshot.empty()
            remove = np.zeros(len(base), dtype=bool)
            column = base.meta.columns.get("source")
            if column is not None and remove_sources:
                remove |= column.eq_any(sorted(remove_sources))
            if chunks:
                remove |= np.isin(base.ids, [c.id for c in chunks])
            removed = int(remove.sum())
            if not removed and not chunks:
                return 0
            self._publish(base.replaced(remove, chunks, vectors, passage_vectors))
            return removed

    def _publish(self, snapshot: Snapshot) -> None:
        """Save `snapshot` as the current version and serve it here; under the write lock."""
        info: dict[str, Any] = {"embedder": self.embedder} if self.embedder else {}
        if snapshot.passages is not None and self.passages_format is not None:
            info["passages"] = self.passages_format
        snapshot.save(self.path, info or None)
        with self._lock:
            self._snapshot = snapshot
            self._signature = index_files.manifest_signature(self.path)

    @classmethod
    def for_rebuild(
        cls, path: str | Path, *, embedder: str | None = None, passages_format: str | None = None
    ) -> LocalHybridIndex:
        """A writer that never reads the current version (it may be from another release)."""
        index = cls(Path(path), embedder=embedder, passages_format=passages_format)
        index._snapshot = Snapshot.empty()
        return index

    def replace_all(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> None:
        """Make `chunks` the whole index; readers switch from the old version atomically.

        `passage_vectors`: each chunk's passages' vectors, in `chains.passages` order.
        """
        vectors = _one_per_chunk(chunks, vectors)
        with index_files.write_lock(self.path):
            empty = Snapshot.empty()
            self._publish(empty.replaced(np.zeros(0, dtype=bool), chunks, vectors, passage_vectors))

    def upsert(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> None:
        """Add chunks; every chunk already stored for the same `source` is replaced."""
        vectors = _one_per_chunk(chunks, vectors)
        self._write({c.source for c in chunks}, chunks, vectors, passage_vectors)

    def delete_source(self, source: str) -> int:
        """Remove every chunk of `source`; returns how many were removed."""
        return self._write({source}, [], np.zeros((0, 0), dtype=np.float32))


def _one_per_chunk(chunks: list[Chunk], vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(chunks):
        raise ValueError("need one vector per chunk")
    return vectors


def check_dimensions(embedded: int, indexed: int) -> None:
    """Vectors of another embedding model cannot be compared: say how to rebuild."""
    if embedded != indexed:
        raise IndexUnavailable(
            f"the index holds {indexed}-dimension vectors and EMBEDDING_MODEL makes {embedded}: "
            f"it was built with another embedding model; {REBUILD}"
        )
