"""LLM_MODEL presets: the model names its prompt style and context budget, explicit
settings still win, and a missing model is a clear error, not a crash at the first token."""

from __future__ import annotations

from pathlib import Path

import pytest

from chains.llm import LLMUnavailable
from chains.llm.gguf import model_gguf
from chains.packaged_models import QWEN25_CODER_1_5B as QWEN_PACKAGES
from settings import LARGE_CONTEXT_TOKENS, QWEN25_CODER_1_5B, SMOLLM2_135M, Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_default_local_model_is_qwen_with_its_own_prompt_and_budget() -> None:
    shipped = settings()
    assert shipped.resolved_llm_model == "qwen2.5-coder-1.5b"
    assert shipped.llm_preset == QWEN25_CODER_1_5B
    assert shipped.resolved_prompt_style == QWEN25_CODER_1_5B.prompt_style == "medium"
    assert shipped.resolved_context_tokens == QWEN25_CODER_1_5B.context_tokens


def test_the_small_preset_keeps_the_small_prompt() -> None:
    small = settings(llm_model="smollm2-135m")
    assert small.resolved_prompt_style == "small"
    assert small.resolved_context_tokens == SMOLLM2_135M.context_tokens


def test_a_path_to_a_presets_file_gets_that_preset_and_another_gguf_the_large_prompt() -> None:
    qwen_file = settings(llm_model=f"/srv/models/{QWEN25_CODER_1_5B.gguf_name}")
    assert qwen_file.llm_preset == QWEN25_CODER_1_5B
    other = settings(llm_model="/srv/models/mistral-7b-instruct.Q4_K_M.gguf")
    assert other.llm_preset is None
    assert other.resolved_prompt_style == "large"
    assert other.resolved_context_tokens == LARGE_CONTEXT_TOKENS


def test_the_preset_follows_the_model_not_the_provider() -> None:
    # `make stack`: the same model behind llama.cpp's server gets the same prompt.
    served = settings(llm_provider="endpoint", llm_model="qwen2.5-coder-1.5b")
    assert served.resolved_prompt_style == "medium"
    hosted = settings(llm_provider="huggingface")
    assert hosted.llm_preset is None and hosted.resolved_prompt_style == "large"


def test_explicit_prompt_style_and_context_tokens_win_over_the_preset() -> None:
    chosen = settings(prompt_style="large", context_tokens=300)
    assert chosen.resolved_prompt_style == "large"
    assert chosen.resolved_context_tokens == 300


def test_the_preset_and_its_packages_name_the_same_file() -> None:
    assert QWEN_PACKAGES.file_name == QWEN25_CODER_1_5B.gguf_name


def test_a_gguf_path_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMUnavailable, match="no GGUF file at LLM_MODEL='missing.gguf'"):
        model_gguf(settings(llm_model=str(tmp_path / "missing.gguf")))


def test_the_small_preset_is_found_inside_its_package() -> None:
    path = model_gguf(settings(llm_model="smollm2-135m"))
    assert path.name == SMOLLM2_135M.gguf_name and path.is_file()
