"""What `EMBEDDING_MODEL` and `EMBEDDING_BACKEND` come to: a folder, a name, a backend.

`settings.py` holds the values; a packaged model (all-mpnet-base-v2) is joined from its
packages on first use, and one whose int8 ONNX build drifts from fp32 embeds on torch.
"""

from __future__ import annotations

from pathlib import Path

from chains.models.bundled import bundled_embedding_model_path
from chains.models.packaged import PackagedModelMissing, archive_parts, model_folder, packaged_model
from settings import EmbeddingBackend, Settings

DEFAULT_EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"


class EmbeddingChoiceRefused(ValueError):
    """EMBEDDING_MODEL and a backend that cannot serve it, or a model not installed."""


def embedding_model_folder(settings: Settings) -> str:
    """The model's folder; a packaged model's is joined from its packages on first use."""
    packaged = packaged_model(settings.embedding_model)
    if packaged is not None:
        return str(model_folder(packaged, settings.resolved_models_dir))
    if settings.embedding_model:
        return settings.embedding_model
    path = bundled_embedding_model_path()
    return str(path) if path else ""


def embedding_model_name(settings: Settings) -> str:
    """What an index records of the model that wrote it: a name, or a folder's name.

    Not the full path: an index built in one place (say, a Docker build) and served in
    another still matches when the model folder moved.
    """
    bundled = bundled_embedding_model_path()
    chosen = Path(settings.embedding_model)
    if not settings.embedding_model or (bundled and chosen.resolve() == bundled.resolve()):
        return DEFAULT_EMBEDDING_MODEL_NAME
    return chosen.name or settings.embedding_model


def onnx_ready(settings: Settings) -> bool:
    """Whether the int8 ONNX build may embed with this model (not for all-mpnet-base-v2)."""
    packaged = packaged_model(settings.embedding_model)
    return packaged is None or packaged.onnx


def query_backend(settings: Settings) -> EmbeddingBackend:
    """EMBEDDING_BACKEND; auto is onnx-int8, or torch for a model whose int8 build drifts."""
    if settings.embedding_backend != "auto":
        return settings.embedding_backend
    return "onnx-int8" if onnx_ready(settings) else "torch"


def check_embedding_model(settings: Settings) -> None:
    """Refuse at start, not at the first query: a packaged model that is not installed, or
    one asked to embed on onnx-int8 when its int8 vectors drift from fp32."""
    model = packaged_model(settings.embedding_model)
    if model is None:
        return
    try:  # metadata look-ups only: no join here
        archive_parts(model)
    except PackagedModelMissing as exc:
        raise EmbeddingChoiceRefused(str(exc)) from None
    if model.onnx:
        return
    for field in ("embedding_backend", "ingest_embedding_backend"):
        if getattr(settings, field) == "onnx-int8":
            raise EmbeddingChoiceRefused(
                f"EMBEDDING_MODEL={settings.embedding_model} runs on torch or torch-bf16, not "
                f"onnx-int8: its int8 vectors drift from fp32 (set {field.upper()}=torch)"
            )
