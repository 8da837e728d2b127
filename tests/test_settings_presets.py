"""LLM_MODEL presets: the model names its prompt style and context budget, explicit
settings still win, and a missing model is a clear error, not a crash at the first token."""

from __future__ import annotations

from pathlib import Path

import pytest

from chains.llm import LLMUnavailable
from chains.llm.gguf import model_gguf
from chains.models.packaged import QWEN25_CODER_1_5B as QWEN_PACKAGES
from chains.models.presets import (
    LARGE_CONTEXT_TOKENS,
    QWEN25_CODER_1_5B,
    SMOLLM2_135M,
    context_tokens,
    llm_model,
    llm_preset,
    prompt_style,
    release_context_tokens,
)
from settings import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_default_local_model_is_qwen_with_its_own_prompt_and_budget() -> None:
    shipped = settings()
    assert llm_model(shipped) == "qwen2.5-coder-1.5b"
    assert llm_preset(shipped) == QWEN25_CODER_1_5B
    assert prompt_style(shipped) == QWEN25_CODER_1_5B.prompt_style == "medium"
    assert context_tokens(shipped) == QWEN25_CODER_1_5B.context_tokens


def test_the_small_preset_keeps_the_small_prompt() -> None:
    small = settings(llm_model="smollm2-135m")
    assert prompt_style(small) == "small"
    assert context_tokens(small) == SMOLLM2_135M.context_tokens


def test_a_path_to_a_presets_file_gets_that_preset_and_another_gguf_the_large_prompt() -> None:
    qwen_file = settings(llm_model=f"/srv/models/{QWEN25_CODER_1_5B.gguf_name}")
    assert llm_preset(qwen_file) == QWEN25_CODER_1_5B
    other = settings(llm_model="/srv/models/mistral-7b-instruct.Q4_K_M.gguf")
    assert llm_preset(other) is None
    assert prompt_style(other) == "large"
    assert context_tokens(other) == LARGE_CONTEXT_TOKENS


def test_the_preset_follows_the_model_not_the_provider() -> None:
    # `make stack`: the same model behind llama.cpp's server gets the same prompt.
    served = settings(llm_provider="endpoint", llm_model="qwen2.5-coder-1.5b")
    assert prompt_style(served) == "medium"
    hosted = settings(llm_provider="huggingface")
    assert llm_preset(hosted) is None and prompt_style(hosted) == "large"


def test_explicit_prompt_style_and_context_tokens_win_over_the_preset() -> None:
    chosen = settings(prompt_style="large", context_tokens=300)
    assert prompt_style(chosen) == "large"
    assert context_tokens(chosen) == 300


def test_a_question_that_asks_for_a_release_gets_its_own_budget() -> None:
    shipped = settings()
    assert release_context_tokens(shipped) == QWEN25_CODER_1_5B.release_context_tokens
    assert release_context_tokens(shipped) < context_tokens(shipped)
    # Set, it wins; CONTEXT_TOKENS alone sets both (one budget the operator chose).
    assert release_context_tokens(settings(release_context_tokens=120)) == 120
    assert release_context_tokens(settings(context_tokens=300)) == 300
    # A preset without its own release budget uses its ordinary one.
    small = settings(llm_model="smollm2-135m")
    assert release_context_tokens(small) == SMOLLM2_135M.context_tokens


def test_the_preset_and_its_packages_name_the_same_file() -> None:
    assert QWEN_PACKAGES.file_name == QWEN25_CODER_1_5B.gguf_name


def test_a_gguf_path_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMUnavailable, match="no GGUF file at LLM_MODEL='missing.gguf'"):
        model_gguf(settings(llm_model=str(tmp_path / "missing.gguf")))


def test_the_small_preset_is_found_inside_its_package() -> None:
    path = model_gguf(settings(llm_model="smollm2-135m"))
    assert path.name == SMOLLM2_135M.gguf_name and path.is_file()
