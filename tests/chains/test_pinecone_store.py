"""The Pinecone backend at the SDK boundary: the exact requests it sends, and score parity."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest

from chains.index.backend import IndexUnavailable
from chains.index.chunks import Chunk, chunk_id
from chains.index.pinecone_backend import PineconeStore
from chains.index.snapshot import Snapshot
from chains.index.sparse import tokenize
from settings import Settings

TEXTS = ["temporary files and directories", "json encoder and decoder", "csv files reader"]


def make_chunks(source: str = "lib/a.html", texts: list[str] = TEXTS) -> list[Chunk]:
    meta = {"source": source, "year": 2020, "title": "Library reference"}
    return [Chunk(t, {**meta, "chunk": i}) for i, t in enumerate(texts)]


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path: Path) -> PineconeStore:
    index = MagicMock(name="pinecone.Index")
    index.query.return_value = {"matches": []}
    return PineconeStore(index, namespace="ns", stats_path=tmp_path / "bm25.json", name="rag")


def upserted(store: PineconeStore) -> list[dict]:
    return [r for call in store.index.upsert.call_args_list for r in call.kwargs["vectors"]]


def test_upsert_sends_dense_sparse_and_text_metadata(store):
    chunks = make_chunks()
    store.upsert(chunks, vectors(3) * 3.0)  # not unit length: the store normalises
    records = upserted(store)
    assert store.index.upsert.call_args.kwargs["namespace"] == "ns"
    revision = store.corpus.sources["lib/a.html"]["revision"]
    assert [r["id"] for r in records] == [
        f"{chunk_id('lib/a.html', i)}-{revision}" for i in range(3)
    ]
    assert np.allclose(records[0]["values"], vectors(3)[0], atol=1e-6)
    assert records[1]["metadata"] == {
        "source": "lib/a.html",
        "chunk": 1,
        "year": 2020,
        "title": "Library reference",
        "doc_revision": revision,
        "text": "json encoder and decoder",
    }
    sparse = records[0]["sparse_values"]
    # temporary files dirs, and the title's library reference
    assert len(sparse["indices"]) == len(set(sparse["indices"])) == 5
    assert all(0 < v < 1 for v in sparse["values"])
    assert (Path(store.stats_path)).exists()


def test_reupserting_deletes_the_previous_revision_after_the_new_one_is_in(store):
    store.upsert(make_chunks(), vectors(3))
    first = store.corpus.sources["lib/a.html"]["revision"]
    store.upsert(make_chunks(texts=TEXTS[:1]), vectors(1))
    second = store.corpus.sources["lib/a.html"]["revision"]
    assert first != second
    store.index.delete.assert_called_once_with(
        ids=[f"{chunk_id('lib/a.html', i)}-{first}" for i in range(3)], namespace="ns"
    )
    calls = [c[0] for c in store.index.method_calls]
    assert calls.index("delete") > max(i for i, c in enumerate(calls) if c == "upsert")
    reloaded = PineconeStore(store.index, namespace="ns", stats_path=store.stats_path)
    assert reloaded.corpus.n_docs == 1
    assert reloaded.delete_source("lib/a.html") == 1
    assert reloaded.delete_source("lib/a.html") == 0


class InMemoryPinecone:
    """A fake Pinecone index for logic tests: keeps records, answers queries by dot product."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.on_delete = None  # called before a delete is applied: a reader in the middle

    def upsert(self, vectors, namespace):  # noqa: ARG002 - Pinecone's signature
        self.records.update({r["id"]: r for r in vectors})

    def delete(self, ids=None, namespace=None, delete_all=False):  # noqa: ARG002
        if self.on_delete is not None:
            self.on_delete()
        for record_id in ids or []:
            self.records.pop(record_id, None)

    def query(self, vector, top_k, include_metadata, namespace, sparse_vector=None, filter=None):  # noqa: ARG002
        scored = sorted(self.records.values(), key=lambda r: -float(np.dot(r["values"], vector)))
        return {
            "matches": [
                {
                    "id": r["id"],
                    "score": float(np.dot(r["values"], vector)),
                    "metadata": r["metadata"],
                }
                for r in scored[:top_k]
            ]
        }


def test_readers_see_the_old_or_the_new_version_never_a_mix(tmp_path):
    """A second process's reader searches while a writer replaces a document."""
    index = InMemoryPinecone()
    writer = PineconeStore(index, namespace="ns", stats_path=tmp_path / "bm25.json")
    reader = PineconeStore(index, namespace="ns", stats_path=tmp_path / "bm25.json")
    old = [Chunk(f"old {i}", {"source": "d.md", "chunk": i}) for i in range(3)]
    new = [Chunk(f"new {i}", {"source": "d.md", "chunk": i}) for i in range(2)]
    same = np.tile(vectors(1), (3, 1))
    writer.upsert(old, same)
    query = vectors(1)[0]

    def texts() -> set[str]:
        hits = reader.search(query, "", k=3, filter=None, mode="hybrid", alpha=1.0)
        assert all("doc_revision" not in h.chunk.metadata for h in hits)
        return {h.chunk.text.split()[0] for h in hits}

    assert texts() == {"old"}
    seen_during_write: list[set[str]] = []
    original_upsert = index.upsert

    def upsert_then_read(vectors, namespace):
        original_upsert(vectors, namespace)
        seen_during_write.append(texts())  # new chunks are in, not yet current

    index.upsert = upsert_then_read
    index.on_delete = lambda: seen_during_write.append(texts())  # current, old not deleted
    writer.upsert(new, same[:2])
    index.on_delete = None
    assert seen_during_write == [{"old"}, {"new"}]
    assert texts() == {"new"} and len(index.records) == 2


def test_hybrid_query_scales_dense_by_alpha_and_sparse_by_one_minus_alpha(store):
    store.upsert(make_chunks(), vectors(3))
    store.index.query.return_value = {
        "matches": [
            {"id": "x", "score": 0.42, "metadata": {"source": "s", "text": "body", "year": 2020}}
        ]
    }
    query = vectors(1, seed=3)[0]
    hits = store.search(
        query, "temporary files", k=4, filter={"year": {"$gte": 2000}}, mode="hybrid", alpha=0.25
    )
    kwargs = store.index.query.call_args.kwargs
    assert set(kwargs) == {
        "vector",
        "sparse_vector",
        "top_k",
        "include_metadata",
        "namespace",
        "filter",
    }
    assert np.allclose(kwargs["vector"], 0.25 * query, atol=1e-6)
    indices, values = store.corpus.encode_query(tokenize(["temporary files"])[0])
    assert kwargs["sparse_vector"]["indices"] == indices
    assert np.allclose(kwargs["sparse_vector"]["values"], 0.75 * np.array(values))
    assert kwargs["top_k"] == 8 and kwargs["include_metadata"] is True  # twice k: see above
    assert kwargs["namespace"] == "ns" and kwargs["filter"] == {"year": {"$gte": 2000}}
    assert hits[0].chunk.text == "body" and hits[0].chunk.id == "x" and hits[0].score == 0.42
    assert "text" not in hits[0].chunk.metadata


def test_sparse_mode_sends_a_zero_dense_vector_and_skips_unknown_queries(store):
    store.upsert(make_chunks(), vectors(3))
    store.search(vectors(1)[0], "json", k=2, filter=None, mode="sparse", alpha=0.9)
    kwargs = store.index.query.call_args.kwargs
    assert not any(kwargs["vector"]) and "filter" not in kwargs
    assert np.isclose(sum(kwargs["sparse_vector"]["values"]), 1.0)
    store.index.query.reset_mock()
    assert store.search(vectors(1)[0], "zebra", k=2, filter=None, mode="sparse", alpha=0) == []
    store.index.query.assert_not_called()


def test_dense_mode_goes_through_pinecone_vector_store(store):
    store.index.query.return_value = {
        "matches": [{"id": "a", "score": 0.9, "metadata": {"source": "s", "text": "hello"}}]
    }
    query = vectors(1)[0] * 2
    hits = store.search(query, "ignored", k=3, filter={"source": "s"}, mode="dense", alpha=0.5)
    kwargs = store.index.query.call_args.kwargs
    assert np.allclose(kwargs["vector"], query / 2, atol=1e-6)
    assert kwargs["top_k"] == 6 and kwargs["include_metadata"] is True  # twice k
    assert kwargs["namespace"] == "ns" and kwargs["filter"] == {"source": "s"}
    assert "sparse_vector" not in kwargs
    assert hits[0].chunk.text == "hello" and hits[0].score == 0.9


def test_service_errors_become_index_unavailable(store):
    store.index.query.side_effect = ConnectionError("no route")
    with pytest.raises(IndexUnavailable, match="Pinecone query failed"):
        store.search(vectors(1)[0], "json", k=1, filter=None, mode="hybrid", alpha=0.5)


def test_fused_scores_equal_the_local_index(store):
    """Pinecone scores a record as dot(dense) + dot(sparse): replay that on what was sent."""
    chunks, vecs = make_chunks(), vectors(3)
    store.upsert(chunks, vecs)
    # "reference" is only in the title: both backends index titles the same way.
    query, text, alpha = vectors(1, seed=7)[0], "csv files encoder reference", 0.3
    store.search(query, text, k=3, filter=None, mode="hybrid", alpha=alpha)
    sent = store.index.query.call_args.kwargs
    q_sparse = dict(
        zip(sent["sparse_vector"]["indices"], sent["sparse_vector"]["values"], strict=True)
    )
    remote = {}
    for record in upserted(store):
        sv = record.get("sparse_values", {"indices": [], "values": []})
        sparse_dot = sum(
            q_sparse.get(i, 0.0) * v for i, v in zip(sv["indices"], sv["values"], strict=True)
        )
        chunk = record["id"].rsplit("-", 1)[0]  # the chunk's id, without its revision
        remote[chunk] = float(np.dot(sent["vector"], record["values"])) + sparse_dot
    local = Snapshot.empty().replaced(np.zeros(0, dtype=bool), chunks, vecs)
    hits = local.search(query, text, k=3, filter=None, mode="hybrid", alpha=alpha)
    assert {h.chunk.id: pytest.approx(remote[h.chunk.id], abs=1e-5) for h in hits} == {
        h.chunk.id: h.score for h in hits
    }


def test_from_settings_without_a_key_is_unavailable(tmp_path):
    settings = Settings(
        data_dir=tmp_path, vector_backend="pinecone", pinecone_api_key=None, _env_file=None
    )
    with pytest.raises(IndexUnavailable, match="PINECONE_API_KEY"):
        PineconeStore.from_settings(settings)


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("PINECONE_API_KEY"), reason="PINECONE_API_KEY not set")
def test_live_round_trip(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        vector_backend="pinecone",
        pinecone_namespace=f"ragchat-test-{os.getpid()}",
    )
    store = PineconeStore.from_settings(settings)
    from chains.embeddings.factory import embed_texts, get_embeddings

    embeddings = get_embeddings(settings)
    chunks = make_chunks("live/a.md")
    store.upsert(chunks, embed_texts(embeddings, TEXTS))
    try:
        query = np.asarray(embeddings.embed_query("json"), dtype=np.float32)
        for _ in range(30):  # serverless upserts become visible within seconds
            hits = store.search(
                query, "json encoder", k=2, filter={"year": 2020}, mode="hybrid", alpha=0.5
            )
            if hits:
                break
            time.sleep(1)
        assert hits and hits[0].chunk.text == "json encoder and decoder"
    finally:
        store.delete_source("live/a.md")


def test_stats_from_another_tokenizer_are_refused(store):
    store.upsert(make_chunks(), vectors(3))
    saved = json.loads(store.stats_path.read_text())
    store.stats_path.write_text(json.dumps({**saved, "tokenizer": "old/0"}))
    with pytest.raises(IndexUnavailable, match="--rebuild"):
        PineconeStore(store.index, namespace="ns", stats_path=store.stats_path)
    # A rebuild never reads them: it empties the namespace, then writes fresh statistics.
    rebuilt = PineconeStore(store.index, namespace="ns", stats_path=store.stats_path, rebuild=True)
    store.index.reset_mock()
    rebuilt.replace_all(make_chunks("lib/b.md", TEXTS[:1]), vectors(1))
    from unittest.mock import call

    assert store.index.method_calls[0] == call.delete(delete_all=True, namespace="ns")
    assert [c[0] for c in store.index.method_calls[1:]] == ["upsert"]
    saved = json.loads(store.stats_path.read_text())
    assert saved["tokenizer"] != "old/0" and list(saved["sources"]) == ["lib/b.md"]


def test_stats_record_the_embedding_model_and_another_is_refused(tmp_path):
    index = MagicMock(name="pinecone.Index")
    stats = tmp_path / "bm25.json"
    writer = PineconeStore(index, namespace="ns", stats_path=stats, embedder="all-MiniLM-L6-v2")
    writer.upsert(make_chunks(), vectors(3))
    assert json.loads(stats.read_text())["embedder"] == "all-MiniLM-L6-v2"
    same = PineconeStore(index, namespace="ns", stats_path=stats, embedder="all-MiniLM-L6-v2")
    assert same.corpus.n_docs == writer.corpus.n_docs
    expected = "built with embedding model 'all-MiniLM-L6-v2' and EMBEDDING_MODEL is 'bge-small'"
    with pytest.raises(IndexUnavailable, match=expected):
        PineconeStore(index, namespace="ns", stats_path=stats, embedder="bge-small")
    rebuilt = PineconeStore(
        index, namespace="ns", stats_path=stats, embedder="bge-small", rebuild=True
    )
    rebuilt.replace_all(make_chunks("lib/b.md", TEXTS[:1]), vectors(1))
    assert json.loads(stats.read_text())["embedder"] == "bge-small"


def test_rebuilding_a_namespace_that_does_not_exist_yet(store):
    from pinecone.exceptions import NotFoundException

    store.index.delete.side_effect = NotFoundException(status=404, reason="Namespace not found")
    store.replace_all(make_chunks(), vectors(3))
    assert len(upserted(store)) == 3


def test_colliding_token_hashes_are_merged(monkeypatch):
    from chains.index import sparse

    monkeypatch.setattr(sparse, "token_hash", lambda token: 7)
    corpus = sparse.CorpusStats()
    corpus.replace_source("s", [["alpha", "beta"]])
    indices, values = corpus.encode_document(["alpha", "beta"])
    assert indices == [7] and len(values) == 1
    assert corpus.encode_query(["alpha", "beta"]) == ([7], [pytest.approx(1.0)])


def test_sparse_values_index_the_heading_path_like_the_local_index(store):
    meta = {"source": "CHANGELOG.md", "title": "pnpm", "chunk": 0}
    chunks = [Chunk("Removed the obsolete xmas command.", {**meta, "section": "12.23.0"})]
    store.upsert(chunks, vectors(1))
    record = upserted(store)[0]
    assert record["metadata"]["section"] == "12.23.0"
    # The query "23" is a word of the heading only: Pinecone gets its sparse weight.
    indices, _ = store.corpus.encode_query(tokenize(["23"])[0])
    assert indices and set(indices) <= set(record["sparse_values"]["indices"])
    # Same tokens, same weights as the embedded index's postings.
    snapshot = Snapshot.empty(4).replaced(np.zeros(0, dtype=bool), chunks, vectors(1))
    assert snapshot.sparse_scores("23")[0] > 0
