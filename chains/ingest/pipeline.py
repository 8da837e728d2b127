"""Ingest: files -> sections -> chunks -> embeddings -> the configured index.

Every chunk's metadata has `source`, `title`, `section` (the heading path below the title,
"Release 2.1 › Bug fixes"; absent before the first heading), `chunk` (index within its file)
and the `--meta key=value` pairs, typed. Re-ingesting a source replaces all of its chunks.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from chains.embeddings.factory import (
    embed_texts,
    get_embeddings,
    ingest_backend,
    prepare_query_model,
)
from chains.index.backend import ChunkStore
from chains.index.chunks import REVISION_KEY, Chunk
from chains.ingest.chunking import split_document
from chains.ingest.loaders import SourceFile, discover, load
from chains.ingest.passages import PASSAGES_FORMAT, passage_vectors
from chains.models.embedding_model import embedding_model_name, query_backend

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from settings import Settings

log = logging.getLogger(__name__)

RESERVED_KEYS = frozenset(
    {"source", "title", "section", "heading_date", "chunk", "text", "id", "score", REVISION_KEY}
)
_INT = re.compile(r"^[+-]?\d+$")


@dataclass
class IngestReport:
    files: int
    chunks: int
    seconds: float
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    model_seconds: float = 0.0  # loading (and once, building) the embedding models
    backend: str = ""  # the embedding backend that embedded the documents, if we chose it

    @property
    def chunks_per_second(self) -> float:
        """Throughput of the work itself: parse, split, embed, write; model loading apart."""
        work = self.seconds - self.model_seconds
        return self.chunks / work if work > 0 else 0.0


def typed_value(text: str) -> str | int | float | bool:
    """`--meta` value typing: ints stay ints, floats floats, true/false bools, else str."""
    if _INT.match(text):
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def parse_meta(pairs: list[str] | None) -> dict[str, str | int | float | bool]:
    """Parse `key=value` strings; keys set by ingest itself are refused."""
    out: dict[str, str | int | float | bool] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--meta needs key=value, got {pair!r}")
        out[meta_key(key)] = typed_value(value)
    return out


def meta_key(key: str) -> str:
    """A metadata key a user may set: not empty, no `$`, not one ingest sets itself."""
    key = key.strip()
    if not key:
        raise ValueError("--meta keys must not be empty")
    if key.startswith("$"):
        raise ValueError(f"--meta key {key!r} must not start with '$'")
    if key in RESERVED_KEYS:
        raise ValueError(f"--meta key {key!r} is set by ingest itself")
    return key


def open_store(settings: Settings, *, rebuild: bool = False) -> ChunkStore:
    """The writable backend selected by `VECTOR_BACKEND`; `rebuild` never reads its data."""
    if settings.vector_backend == "pinecone":
        from chains.index.pinecone_backend import PineconeStore

        return PineconeStore.from_settings(settings, rebuild=rebuild)
    from chains.index.local import LocalHybridIndex

    names = {"embedder": embedding_model_name(settings), "passages_format": PASSAGES_FORMAT}
    if rebuild:
        return LocalHybridIndex.for_rebuild(settings.index_dir, **names)
    return LocalHybridIndex.open(settings.index_dir, create=True, **names)


class IngestCancelled(RuntimeError):
    """`IngestHooks.stopped()` said stop; nothing was written to the index."""


@dataclass
class IngestHooks:
    """What a background job adds to an ingest: progress, a way to stop, cancels per file."""

    on_split: Callable[[dict[str, int]], None] | None = None  # chunks per source, in order
    on_progress: Callable[[int, int], None] | None = None  # (chunks embedded, chunks in all)
    stopped: Callable[[], bool] | None = None
    dropped: Callable[[], set[str]] | None = None  # sources cancelled meanwhile: not written
    group_size: int = 64  # chunks embedded between two progress reports


def ingest(
    settings: Settings,
    paths: list[str | Path],
    *,
    meta: dict[str, Any] | None = None,
    embeddings: Embeddings | None = None,
    store: ChunkStore | None = None,
    progress: bool = True,
    rebuild: bool = False,
) -> IngestReport:
    """Load, split, embed and upsert every supported file under `paths`.

    With `rebuild`, these files become the whole index: every other chunk is dropped, and an
    index that this release cannot read (another BM25 tokenizer) is replaced, not refused.
    """
    started = time.perf_counter()
    files, skipped = discover(paths)
    report = ingest_files(
        settings,
        files,
        meta=meta,
        embeddings=embeddings,
        store=store,
        progress=progress,
        rebuild=rebuild,
    )
    report.skipped = skipped
    report.seconds = time.perf_counter() - started
    return report


def ingest_files(
    settings: Settings,
    files: list[SourceFile],
    *,
    meta: dict[str, Any] | None = None,
    embeddings: Embeddings | None = None,
    store: ChunkStore | None = None,
    progress: bool = True,
    rebuild: bool = False,
    hooks: IngestHooks | None = None,
) -> IngestReport:
    """The one ingest path of the CLI and of upload jobs: each file becomes `source`'s chunks.

    The index is written once, after every chunk is embedded, so a stopped or failed run
    leaves it as it was; the catalog (`GET /documents`) is updated after the index.
    """
    started = time.perf_counter()
    hooks = hooks or IngestHooks(group_size=0)
    chunks: list[Chunk] = []
    errors: dict[str, str] = {}
    entries: dict[str, tuple[str, dict[str, Any], str | None]] = {}  # title, meta, added_by
    for file in files:
        try:
            document = load(file.path)
        except Exception as exc:  # one unreadable file should not sink the whole run
            log.warning("skipping %s: %s", file.source, exc)
            errors[file.source] = _load_error(exc)
            continue
        extra = {**(meta or {}), **file.meta}
        entries[file.source] = (document.title, extra, file.added_by)
        chunks += split_document(
            document.sections,
            source=file.source,
            title=document.title,
            settings=settings,
            extra=extra,
        )
    if rebuild and not chunks:
        raise ValueError("nothing to ingest: --rebuild would leave the index empty")
    loading = time.perf_counter()
    backend = ""
    if embeddings is None:
        backend = ingest_backend(settings, [c.text for c in chunks])
        embeddings = get_embeddings(settings, backend)
        if backend != query_backend(settings):
            prepare_query_model(settings)
    model_seconds = time.perf_counter() - loading
    # `is None`, not `or`: an empty index has len 0 and is falsy.
    store = open_store(settings, rebuild=rebuild) if store is None else store
    if hooks.on_split is not None:
        hooks.on_split(dict(Counter(c.source for c in chunks)))
    vectors = _embed(
        embeddings, [c.text for c in chunks], settings.embedding_batch_size, progress, hooks
    )
    passages = passage_vectors(chunks, store, embeddings)
    if hooks.stopped is not None and hooks.stopped():
        raise IngestCancelled("stopped before writing the index")
    dropped = hooks.dropped() if hooks.dropped is not None else set()
    if dropped:
        keep = np.array([c.source not in dropped for c in chunks], dtype=bool)
        chunks = [c for c, kept in zip(chunks, keep, strict=True) if kept]
        vectors = vectors[keep] if len(vectors) else vectors
        passages = [v for v, kept in zip(passages, keep, strict=True) if kept] if passages else None
        if not chunks:
            raise IngestCancelled("every document of this run was cancelled")
    if rebuild:
        store.replace_all(chunks, vectors, passage_vectors=passages)
    elif chunks:
        store.upsert(chunks, vectors, passage_vectors=passages)
    _record(settings, chunks, entries, replace_all=rebuild)
    return IngestReport(
        files=len(files) - len(errors),
        chunks=len(chunks),
        seconds=time.perf_counter() - started,
        errors=errors,
        model_seconds=model_seconds,
        backend=backend,
    )


def _load_error(exc: Exception) -> str:
    """What a person reads when a file cannot be read: the parser's reason, one line."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _record(
    settings: Settings,
    chunks: list[Chunk],
    entries: dict[str, tuple[str, dict[str, Any], str | None]],
    *,
    replace_all: bool,
) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from chains.documents.catalog import DocumentCatalog, DocumentEntry

    counts = Counter(c.source for c in chunks)
    listed = [
        DocumentEntry(source, entries[source][0], n, entries[source][1], entries[source][2])
        for source, n in counts.items()
    ]
    try:
        DocumentCatalog.from_url(settings.resolved_database_url).record(
            listed, replace_all=replace_all
        )
    except SQLAlchemyError as exc:  # the index is the truth for search; the list catches up
        log.warning("documents written to the index but not to the catalog: %s", exc)


def _embed(
    embeddings: Embeddings, texts: list[str], batch: int, progress: bool, hooks: IngestHooks
) -> np.ndarray:
    # Groups of many batches keep the backends' sort by length effective (less padding);
    # a job reports progress (and checks for a stop) after each smaller group.
    group = hooks.group_size or max(batch * 4, 256)
    parts = []
    done = 0
    with tqdm(total=len(texts), unit="chunk", desc="embedding", disable=not progress) as bar:
        for start in range(0, len(texts), group):
            if hooks.stopped is not None and hooks.stopped():
                raise IngestCancelled(f"stopped after {done} of {len(texts)} chunks")
            parts.append(embed_texts(embeddings, texts[start : start + group]))
            done += len(parts[-1])
            bar.update(len(parts[-1]))
            if hooks.on_progress is not None:
                hooks.on_progress(done, len(texts))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def delete_source(settings: Settings, source: str, *, store: ChunkStore | None = None) -> int:
    """Remove every chunk of `source` from the index, then from the catalog; how many."""
    from chains.documents.catalog import DocumentCatalog

    removed = (open_store(settings) if store is None else store).delete_source(source)
    listed = DocumentCatalog.from_url(settings.resolved_database_url).remove(source)
    if listed and not removed:
        log.info("%s was listed but had no chunks in the index", source)
    return removed


def index_stats(settings: Settings, *, store: ChunkStore | None = None) -> dict[str, Any]:
    """Totals and per-metadata-value counts of the configured backend."""
    return (open_store(settings) if store is None else store).stats()
