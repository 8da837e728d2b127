"""The real bundled model: the int8 ONNX build agrees with torch fp32 (slow: loads models)."""

from __future__ import annotations

import numpy as np
import pytest

from chains.embeddings.factory import embed_texts, get_embeddings
from settings import Settings

pytestmark = pytest.mark.slow

TEXTS = [
    "How do I create a temporary file that is deleted when it is closed?",
    "The json module can serialize Python dictionaries and lists to text.",
    "Sockets: a server binds, listens and accepts connections from clients. " * 12,
    "Sorting is stable: records with equal keys keep their original order.",
]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # The ONNX build lands in MODELS_DIR, which tests/conftest.py shares across the run.
    return Settings(data_dir=tmp_path_factory.mktemp("data"), _env_file=None)


def test_onnx_int8_matches_torch_fp32(settings):
    onnx = get_embeddings(settings)
    torch = get_embeddings(settings, backend="torch")
    assert get_embeddings(settings) is onnx  # one per process
    assert list(settings.resolved_models_dir.glob("*-onnx-int8-*/model_int8.onnx"))
    a, b = embed_texts(onnx, TEXTS), embed_texts(torch, TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() >= 0.98, cosines
    # Dynamic int8 quantises activations per batch, so a text embedded alone (a query)
    # differs slightly from the same text embedded among others.
    query = np.asarray(onnx.embed_query(TEXTS[0]))
    assert float(query @ a[0]) >= 0.98
    # Ranking agrees: each text is nearest to its own torch embedding.
    assert ((a @ b.T).argmax(axis=1) == np.arange(len(TEXTS))).all()


def test_torch_bf16_matches_torch_fp32(settings):
    bf16 = get_embeddings(settings, backend="torch-bf16")
    a, b = embed_texts(bf16, TEXTS), embed_texts(get_embeddings(settings, backend="torch"), TEXTS)
    assert a.dtype == np.float32 and a.shape == b.shape
    assert (a * b).sum(axis=1).min() >= 0.995
    # Documents embedded in bf16 are found by queries embedded with onnx-int8.
    query = np.asarray(get_embeddings(settings).embed_query(TEXTS[0]))
    assert int((a @ query).argmax()) == 0


def test_prepare_query_model_builds_the_onnx_files(tmp_path):
    from chains.embeddings.factory import prepare_query_model

    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models", _env_file=None)
    prepare_query_model(settings)
    assert list((tmp_path / "models").glob("*-onnx-int8-*/model_int8.onnx"))
    prepare_query_model(settings)  # a second call finds it and returns
    torch_settings = Settings(
        models_dir=tmp_path / "t" / "models", embedding_backend="torch", _env_file=None
    )
    prepare_query_model(torch_settings)
    assert not (tmp_path / "t" / "models").exists()  # nothing to build for torch


def test_embedding_cache_embeds_each_text_once_and_stays_bounded():
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from chains.embeddings.factory import EmbeddingCache

    class Counting(DeterministicFakeEmbedding):
        calls: list = []

        def embed_documents(self, texts):
            self.calls.append(list(texts))
            return super().embed_documents(texts)

    inner = Counting(size=8)
    cache = EmbeddingCache(inner, max_items=3)
    first = cache.embed_texts(["a", "b", "a"])
    assert inner.calls == [["a"], ["b"]]  # alone, and a repeated text only once
    assert np.allclose(first[0], first[2]) and first.shape == (3, 8)
    again = cache.embed_texts(["b", "c"])
    assert inner.calls[-1] == ["c"] and np.allclose(again[0], first[1])
    cache.embed_texts(["d"])  # over max_items: "a", least recently used, goes
    cache.embed_texts(["a"])
    assert inner.calls[-1] == ["a"]
