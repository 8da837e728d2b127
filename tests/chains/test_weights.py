"""Which weights `LLM_WEIGHTS` loads: for Qwen, auto keeps the shipped file untouched."""

from __future__ import annotations

import pytest

from chains.llm import weights
from chains.llm.weights import local_weights
from chains.models.presets import QWEN25_CODER_1_5B
from settings import Settings


def test_auto_keeps_qwens_shipped_file_without_converting_or_timing(tmp_path, monkeypatch):
    source = tmp_path / QWEN25_CODER_1_5B.gguf_name
    source.write_bytes(b"GGUF")
    monkeypatch.setattr(weights, "converted", lambda *a: pytest.fail("converted"))
    monkeypatch.setattr(weights, "fastest", lambda *a, **k: pytest.fail("timed"))
    settings = Settings(data_dir=tmp_path, llm_weights="auto", _env_file=None)
    assert local_weights(settings, source) == source


def test_auto_times_every_format_for_a_model_without_a_preset(tmp_path, monkeypatch):
    source = tmp_path / "some-model.gguf"
    source.write_bytes(b"GGUF")
    timed: list[str] = []

    def fastest(path, key, candidates, **_):
        timed.extend(candidates)
        return "shipped", {}

    monkeypatch.setattr(weights, "fastest", fastest)
    settings = Settings(data_dir=tmp_path, llm_model=str(source), _env_file=None)
    assert local_weights(settings, source) == source
    assert timed == ["shipped", "q8_0", "f16"]
