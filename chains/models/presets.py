"""The LLM presets `LLM_MODEL` may name, and what a setting of it comes to.

A preset carries the prompt style and context budget its model reads best; they follow
the model, not the provider (`make stack` serves the same model through llama.cpp's
server and wants the same prompt). `settings.py` only holds the names; these functions
turn them into a model, a prompt style and a budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from settings import PromptStyle, Settings

# CONTEXT_TOKENS when no preset names it: an endpoint model keeps the five chunks whole.
LARGE_CONTEXT_TOKENS = 1500
DEFAULT_HUB_MODEL = "meta-llama/Meta-Llama-3-8B-Instruct"


@dataclass(frozen=True)
class ModelPreset:
    """A model `LLM_MODEL` may name, with the prompt it reads best and how much context."""

    name: str
    gguf_name: str
    """A GGUF path with this file name gets the preset too."""
    prompt_style: PromptStyle
    context_tokens: int
    """CONTEXT_TOKENS when unset (docs/answers.md has the curve)."""
    weights: tuple[str, ...] = ("shipped", "q8_0", "f16")
    """What `LLM_WEIGHTS=auto` times: only formats that can win for this model."""
    release_context_tokens: int | None = None
    """RELEASE_CONTEXT_TOKENS when unset; None: the same as `context_tokens`."""


# SmolLM2-135M loses the answer in more than a few passages. Qwen2.5-Coder-1.5B's budget
# was chosen on the tune half (docs/answers.md, "Budget"): with the AVX-512 build, kept
# prompt states and stored passage vectors, 250 tokens read best (0.80) at a first token
# of 1.4 s p50; 300 and 450 read no better and came later.
SMOLLM2_135M = ModelPreset("smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf", "small", 90)
# Qwen's Q4_K_M has fast kernels, and converted weights are 1.6 GB (Q8_0) and 3 GB (F16)
# to read per generated token: they lost every RAG turn measured (docs/answers.md#weights),
# so auto keeps the shipped file without converting or timing.
# A question that asks which release (`fusion.asks_for_release`) reads best at 100 tokens:
# release-notes tune half, 2026-12-06, right 0.829 at 100, 0.78 at 150 and at 250
# (citation validity 0.805 / 0.756 / 0.707); no answers.jsonl question asks for a release.
QWEN25_CODER_1_5B = ModelPreset(
    "qwen2.5-coder-1.5b",
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "medium",
    250,
    ("shipped",),
    release_context_tokens=100,
)
MODEL_PRESETS = {preset.name: preset for preset in (SMOLLM2_135M, QWEN25_CODER_1_5B)}
DEFAULT_LOCAL_MODEL = QWEN25_CODER_1_5B.name


def llm_model(settings: Settings) -> str:
    """The model the provider will actually use (a preset name, path or repo id)."""
    if settings.llm_model:
        return settings.llm_model
    if settings.llm_provider == "local":
        return DEFAULT_LOCAL_MODEL
    if settings.llm_provider == "huggingface":
        return DEFAULT_HUB_MODEL
    return settings.llm_endpoint_url


def llm_preset(settings: Settings) -> ModelPreset | None:
    """The preset `LLM_MODEL` names (for `local` by default Qwen2.5-Coder-1.5B), or whose
    GGUF it points at; None for another model."""
    model = llm_model(settings)
    by_file = {preset.gguf_name: preset for preset in MODEL_PRESETS.values()}
    return MODEL_PRESETS.get(model) or by_file.get(Path(model).name)


def prompt_style(settings: Settings) -> PromptStyle:
    """PROMPT_STYLE, or the preset's when it says auto; `large` for any other model."""
    if settings.prompt_style != "auto":
        return settings.prompt_style
    preset = llm_preset(settings)
    return preset.prompt_style if preset else "large"


def context_tokens(settings: Settings) -> int:
    """CONTEXT_TOKENS, or the preset's budget when unset."""
    if settings.context_tokens is not None:
        return settings.context_tokens
    preset = llm_preset(settings)
    return preset.context_tokens if preset else LARGE_CONTEXT_TOKENS


def release_context_tokens(settings: Settings) -> int:
    """The budget for a question that asks which release did something, or when.

    Its answer is a heading (the release), and every other release's passage in the
    prompt is one more heading the model may read it from: a small model names the right
    one more often from fewer passages. RELEASE_CONTEXT_TOKENS, else the preset's, else
    the question's ordinary budget (`context_tokens`).
    """
    if settings.release_context_tokens is not None:
        return settings.release_context_tokens
    preset = llm_preset(settings)
    if settings.context_tokens is None and preset and preset.release_context_tokens:
        return preset.release_context_tokens
    return context_tokens(settings)
