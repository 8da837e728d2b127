"""Passage vectors cut and embedded at ingest, stored with their chunk in the local index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from chains.index import files as index_files
from chains.index.chunks import Chunk
from chains.index.local import LocalHybridIndex
from chains.ingest.pipeline import ingest
from chains.passages import PASSAGES_FORMAT, passage_texts
from chains.retrieval import Retriever
from settings import Settings

DIM = 4
TEXTS = [
    "First paragraph of the page, long enough to stand alone.\n\nAnd a second one, also long.",
    "Only one paragraph here, long enough to stand alone.",
]


def chunks(source: str = "a.md") -> list[Chunk]:
    return [Chunk(t, {"source": source, "chunk": i}) for i, t in enumerate(TEXTS)]


def passages_of(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def open_index(path: Path, cut: str | None = PASSAGES_FORMAT) -> LocalHybridIndex:
    return LocalHybridIndex.open(path, create=True, passages_format=cut)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[LocalHybridIndex, list[np.ndarray]]:
    index = open_index(tmp_path / "index")
    per_chunk = [passages_of(2, 1), passages_of(1, 2)]
    index.upsert(chunks(), passages_of(2, 0), passage_vectors=per_chunk)
    return index, per_chunk


def keys(source: str = "a.md") -> list[tuple[str, str]]:
    return [(c.id, c.text) for c in chunks(source)]


def test_passage_vectors_survive_a_reload_by_chunk_id(stored, tmp_path):
    _, per_chunk = stored
    reopened = open_index(tmp_path / "index")
    found = reopened.passage_vectors(keys())
    assert list(found) == [c.id for c in chunks()]
    for got, want in zip(found.values(), per_chunk, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=2e-3)  # stored as float16
    assert index_files.read_manifest(tmp_path / "index")["passages"] == PASSAGES_FORMAT


def test_a_chunk_whose_text_changed_or_that_is_unknown_has_none(stored):
    index, _ = stored
    first = chunks()[0]
    assert index.passage_vectors([(first.id, "another text"), ("no-such-id", "x")]) == {}


def test_vectors_of_another_cut_are_not_used(stored, tmp_path):
    assert open_index(tmp_path / "index", cut="an older cut").passage_vectors(keys()) == {}


def test_an_index_written_without_passage_vectors_loads_and_keeps_taking_chunks(tmp_path):
    index = open_index(tmp_path / "index")
    index.upsert(chunks("old.md"), passages_of(2, 0))  # as before passages were stored
    reopened = open_index(tmp_path / "index")
    assert reopened.passage_vectors(keys("old.md")) == {}
    reopened.upsert(chunks("new.md"), passages_of(2, 3), passage_vectors=[passages_of(2, 4)] * 2)
    assert len(reopened) == 4
    assert set(reopened.passage_vectors(keys("new.md") + keys("old.md"))) == {
        c.id for c in chunks("new.md")
    }


def test_rows_kept_by_a_write_keep_their_passage_vectors(stored):
    index, per_chunk = stored
    index.upsert(chunks("b.md"), passages_of(2, 5))  # no passage vectors for these
    np.testing.assert_allclose(
        index.passage_vectors(keys())[chunks()[1].id], per_chunk[1], atol=2e-3
    )
    index.delete_source("b.md")
    assert len(index.passage_vectors(keys())) == 2


def test_the_retriever_gives_stored_vectors_by_passage_text(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    index = open_index(settings.index_dir)
    per_chunk = [passages_of(len(passage_texts(t)), i) for i, t in enumerate(TEXTS)]
    index.upsert(chunks(), passages_of(2, 0), passage_vectors=per_chunk)
    documents = [Document(c.text, metadata={"id": c.id}) for c in chunks()]
    found = Retriever(settings, None, index).stored_passage_vectors(documents)
    texts = [t for text in TEXTS for t in passage_texts(text)]
    assert list(found) == texts
    np.testing.assert_allclose(found[texts[-1]], per_chunk[1][0], atol=2e-3)


def test_ingest_stores_each_chunks_passage_vectors(tmp_path):
    (tmp_path / "notes.md").write_text("# Notes\n\n" + "\n\n".join(TEXTS))
    settings = Settings(data_dir=tmp_path / "data", chunk_size=100, chunk_overlap=0, _env_file=None)
    fake = DeterministicFakeEmbedding(size=DIM)
    ingest(settings, [tmp_path / "notes.md"], embeddings=fake, progress=False)
    index = open_index(settings.index_dir)
    hits = index.search(None, "paragraph", k=10, mode="sparse")
    found = index.passage_vectors([(h.chunk.id, h.chunk.text) for h in hits])
    assert len(found) == len(hits) > 1
    for hit in hits:
        texts = passage_texts(hit.chunk.text)
        want = np.array([fake.embed_documents([t])[0] for t in texts])
        np.testing.assert_allclose(found[hit.chunk.id], want, atol=2e-3)
