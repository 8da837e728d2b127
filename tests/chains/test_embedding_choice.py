"""Which runtime embeds documents: `INGEST_EMBEDDING_BACKEND`, and what `auto` picks."""

from __future__ import annotations

import json
import time

import pytest

from chains.embeddings import factory as embeddings
from chains.embeddings.factory import ingest_backend
from settings import Settings


class FakeBackend:
    """An embedding runtime whose speed and vectors the test decides."""

    def __init__(self, delay: float, tilt: float = 0.0) -> None:
        self.delay, self.tilt, self.calls = delay, tilt, 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        time.sleep(self.delay)
        return [[1.0, self.tilt, float(len(t) % 3)] for t in texts]


@pytest.fixture
def backends(monkeypatch, tmp_path):
    """onnx-int8 (the query model) slow, torch-bf16 fastest, torch fast but disagreeing."""
    fakes = {
        "onnx-int8": FakeBackend(0.03),
        "torch-bf16": FakeBackend(0.0),
        "torch": FakeBackend(0.0, tilt=0.5),
    }
    monkeypatch.setattr(
        embeddings, "get_embeddings", lambda s, b=None: fakes[b or s.embedding_backend]
    )
    monkeypatch.setattr(embeddings, "_forget_except", lambda s, keep: None)
    return fakes


def auto_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, models_dir=tmp_path / "models", _env_file=None)


def test_auto_keeps_the_fastest_backend_that_agrees_with_the_query_model(backends, tmp_path):
    settings = auto_settings(tmp_path)
    assert settings.ingest_embedding_backend == "auto"
    assert ingest_backend(settings, ["chunk one", "chunk two!"]) == "torch-bf16"
    saved = json.loads((tmp_path / "models/measured/ingest-backend.json").read_text())
    assert saved["choice"] == "torch-bf16"
    assert saved["key"]["cpu"]  # remembered with this machine's CPU model name
    assert set(saved["seconds"]) == {"onnx-int8", "torch-bf16", "torch"}


def test_the_choice_is_measured_once_per_cpu(backends, tmp_path):
    settings = auto_settings(tmp_path)
    ingest_backend(settings, ["a chunk"])
    calls = {name: fake.calls for name, fake in backends.items()}
    assert ingest_backend(settings, ["another chunk"]) == "torch-bf16"
    assert {name: fake.calls for name, fake in backends.items()} == calls


def test_without_chunks_auto_means_the_query_backend(backends, tmp_path):
    assert ingest_backend(auto_settings(tmp_path), []) == "onnx-int8"
    assert all(fake.calls == 0 for fake in backends.values())


def test_an_explicit_ingest_backend_wins(backends, tmp_path):
    settings = Settings(ingest_embedding_backend="torch", _env_file=None)
    assert ingest_backend(settings, ["a chunk"]) == "torch"
    assert all(fake.calls == 0 for fake in backends.values())


def test_unknown_backends_are_refused():
    with pytest.raises(ValueError, match="ingest_embedding_backend"):
        Settings(ingest_embedding_backend="fp8", _env_file=None)


def test_an_empty_models_dir_means_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELS_DIR", "")
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.resolved_models_dir == tmp_path / "models"
