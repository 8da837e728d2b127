"""LocalHybridIndex: persistence, upsert-by-source, delete, concurrent readers, modes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chains.index.backend import IndexUnavailable
from chains.index.chunks import Chunk, chunk_id
from chains.index.local import LocalHybridIndex
from chains.index.sparse import document_tokens, indexed_text, tokenize, version_numbers

DIM = 8


def make_chunks(source: str, texts: list[str], **meta) -> list[Chunk]:
    return [Chunk(t, {"source": source, "chunk": i, **meta}) for i, t in enumerate(texts)]


def vectors_for(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


@pytest.fixture
def index(tmp_path: Path) -> LocalHybridIndex:
    idx = LocalHybridIndex.open(tmp_path / "index", create=True)
    idx.upsert(
        make_chunks("a.md", ["temporary files and directories", "json encoder"], year=2001)
        + make_chunks("b.html", ["csv reader and writer"], year=2010, draft=True),
        vectors_for(3),
    )
    return idx


def test_chunk_ids_are_sha256_of_source_and_index():
    chunk = Chunk("x", {"source": "library/tempfile.html", "chunk": 3})
    assert chunk.id == chunk_id("library/tempfile.html", 3)
    assert len(chunk.id) == 64


def test_round_trip_keeps_texts_metadata_types_and_scores(index, tmp_path):
    query = vectors_for(1, seed=5)[0]
    before = index.search(query, "csv files", k=3)
    reopened = LocalHybridIndex.open(tmp_path / "index")
    after = reopened.search(query, "csv files", k=3)
    assert [(h.chunk, h.score) for h in after] == [(h.chunk, h.score) for h in before]
    meta = {h.chunk.source: h.chunk.metadata for h in after}
    assert meta["b.html"] == {"source": "b.html", "chunk": 0, "year": 2010, "draft": True}
    assert isinstance(meta["a.md"]["year"], int)
    assert len(reopened) == 3


def test_upsert_replaces_every_chunk_of_a_source(index):
    index.upsert(make_chunks("a.md", ["rewritten text"], year=2020), vectors_for(1, seed=9))
    texts = sorted(h.chunk.text for h in index.search(vectors_for(1)[0], "", k=10, mode="dense"))
    assert texts == ["csv reader and writer", "rewritten text"]
    assert index.stats()["metadata"]["year"]["values"] == {"2010": 1, "2020": 1}


def test_delete_source(index):
    assert index.delete_source("a.md") == 2
    assert index.delete_source("a.md") == 0
    assert index.delete_source("never.txt") == 0
    assert len(index) == 1
    assert index.stats()["sources"] == 1


def test_stats_counts_per_key_and_value(index):
    stats = index.stats()
    assert stats["chunks"] == 3 and stats["sources"] == 2 and stats["dim"] == DIM
    assert stats["metadata"]["source"]["values"] == {"a.md": 2, "b.html": 1}
    assert stats["metadata"]["draft"] == {"records": 1, "distinct": 1, "values": {"true": 1}}


def test_missing_and_corrupt_index_raise_index_unavailable(tmp_path, index):
    with pytest.raises(IndexUnavailable, match="no index at"):
        LocalHybridIndex.open(tmp_path / "nothing-here")
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    version = tmp_path / "index" / "versions" / manifest["version"]
    (version / "vectors.npy").write_bytes(b"not numpy")
    with pytest.raises(IndexUnavailable, match="unreadable"):
        LocalHybridIndex.open(tmp_path / "index")
    (tmp_path / "index" / "manifest.json").write_text("{garbage")
    with pytest.raises(IndexUnavailable, match="unreadable"):
        LocalHybridIndex.open(tmp_path / "index")


def test_a_reader_keeps_its_version_when_a_newer_one_is_corrupt(index, tmp_path):
    reader = LocalHybridIndex.open(tmp_path / "index", reload_interval=0)
    (tmp_path / "index" / "manifest.json").write_text('{"format": 1, "version": "gone"}')
    assert len(reader) == 3


def test_modes(index):
    query = vectors_for(3)[2]  # the vector of the csv chunk
    dense = index.search(query, "", k=3, mode="dense")
    assert dense[0].chunk.text == "csv reader and writer"
    assert dense[0].score == pytest.approx(1.0, abs=1e-5)
    sparse = index.search(None, "json encoder", k=3, mode="sparse")
    assert [h.chunk.text for h in sparse] == ["json encoder"]  # only term-sharing chunks
    assert 0 < sparse[0].score < 1
    hybrid = index.search(query, "json encoder", k=3, mode="hybrid", alpha=0.5)
    by_text = {h.chunk.text: h.score for h in hybrid}
    dense_by_text = {h.chunk.text: h.score for h in dense}
    expected = 0.5 * dense_by_text["json encoder"] + 0.5 * sparse[0].score
    assert by_text["json encoder"] == pytest.approx(expected, abs=1e-5)
    assert [h.chunk.text for h in index.search(query, "json", k=3, alpha=1.0)] == [
        h.chunk.text for h in dense
    ]
    with pytest.raises(ValueError, match="mode"):
        index.search(query, "x", k=3, mode="fuzzy")
    with pytest.raises(ValueError, match="alpha"):
        index.search(query, "x", k=3, alpha=1.5)


def test_bm25_indexes_the_title_but_returns_the_chunk_text(tmp_path):
    idx = LocalHybridIndex.open(tmp_path / "titled", create=True)
    title = "bisect — Array bisection algorithm"
    chunks = make_chunks("bisect.html", ["insort(a, x) inserts x in a", title + " intro"])
    chunks = [Chunk(c.text, {**c.metadata, "title": title}) for c in chunks]
    idx.upsert(chunks + make_chunks("heapq.html", ["heap queue"]), vectors_for(3))
    hits = idx.search(None, "bisection", k=5, mode="sparse")
    assert {h.chunk.text for h in hits} == {"insort(a, x) inserts x in a", title + " intro"}
    # The title is counted once in a chunk that already starts with it.
    assert hits[0].score == pytest.approx(hits[1].score, rel=0.2)


def test_filters_and_k(index):
    query = vectors_for(1)[0]
    hits = index.search(query, "files", k=10, filter={"year": {"$gte": 2005}})
    assert [h.chunk.source for h in hits] == ["b.html"]
    assert index.search(query, "files", k=10, filter={"year": 1900}) == []
    assert len(index.search(query, "files", k=2)) == 2
    assert len(index.search(query, "files", k=50)) == 3


def test_concurrent_readers_see_old_or_new_version_never_half(tmp_path):
    """Each generation g writes g+1 chunks all tagged gen=g; a reader must see one whole g."""
    root = tmp_path / "index"
    writer = LocalHybridIndex.open(root, create=True)
    writer.upsert(make_chunks("doc", ["gen text"], gen=0), vectors_for(1))
    generations = 25
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        live = LocalHybridIndex.open(root, reload_interval=0)
        try:
            while not done.is_set():
                for idx in (live, LocalHybridIndex.open(root)):
                    hits = idx.search(np.ones(DIM), "gen", k=100, mode="hybrid")
                    gens = {h.chunk.metadata["gen"] for h in hits}
                    assert len(gens) == 1, gens
                    gen = gens.pop()
                    assert len(hits) == gen + 1
                    seen.append((gen, len(hits)))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    for gen in range(1, generations):
        writer.upsert(make_chunks("doc", ["gen text"] * (gen + 1), gen=gen), vectors_for(gen + 1))
        time.sleep(0.002)
    done.set()
    for thread in readers:
        thread.join(timeout=30)
    assert not errors, errors[0]
    assert len({gen for gen, _ in seen}) > 1  # readers did observe several versions
    assert len(list((root / "versions").iterdir())) <= 2  # old versions are pruned


def test_an_index_from_another_tokenizer_must_be_rebuilt(index, tmp_path):
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "tokenizer": "something-else/0"}))
    with pytest.raises(IndexUnavailable, match="ingest --rebuild"):
        LocalHybridIndex.open(tmp_path / "index")


def test_replace_all_swaps_an_unreadable_index_for_new_chunks(index, tmp_path):
    reader = index  # a reader that holds the old version
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "tokenizer": "something-else/0"}))
    writer = LocalHybridIndex.for_rebuild(tmp_path / "index")
    writer.replace_all(make_chunks("c.md", ["fresh start"]), vectors_for(1))
    reopened = LocalHybridIndex.open(tmp_path / "index")
    assert [h.chunk.source for h in reopened.search(None, "fresh", k=5, mode="sparse")] == ["c.md"]
    assert len(reopened) == 1
    time.sleep(reader.reload_interval + 0.05)
    assert len(reader) == 1  # readers move to the new version by themselves


def test_the_manifest_names_the_embedding_model_and_readers_of_another_are_refused(tmp_path):
    root = tmp_path / "index"
    writer = LocalHybridIndex.open(root, create=True, embedder="all-MiniLM-L6-v2")
    writer.upsert(make_chunks("a.md", ["temporary files"]), vectors_for(1))
    assert json.loads((root / "manifest.json").read_text())["embedder"] == "all-MiniLM-L6-v2"
    assert len(LocalHybridIndex.open(root, embedder="all-MiniLM-L6-v2")) == 1
    assert len(LocalHybridIndex.open(root)) == 1  # no name given, nothing checked

    # Same dimension, another model: the vectors would be compared as if alike.
    expected = "built with embedding model 'all-MiniLM-L6-v2' and EMBEDDING_MODEL is 'bge-small'"
    with pytest.raises(IndexUnavailable, match=expected) as refused:
        LocalHybridIndex.open(root, embedder="bge-small")
    assert "ingest --rebuild" in str(refused.value)
    with pytest.raises(IndexUnavailable, match=expected):  # a writer that would add to it
        LocalHybridIndex.open(root, create=True, embedder="bge-small")

    LocalHybridIndex.for_rebuild(root, embedder="bge-small").replace_all(
        make_chunks("b.md", ["fresh start"]), vectors_for(1, seed=3)
    )
    assert len(LocalHybridIndex.open(root, embedder="bge-small")) == 1


def test_an_index_from_before_the_record_is_still_read(index, tmp_path):
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert "embedder" not in manifest  # written without a name, like an older release's
    assert len(LocalHybridIndex.open(tmp_path / "index", embedder="all-MiniLM-L6-v2")) == 3


def test_a_reader_keeps_its_version_when_a_new_one_has_another_embedder(tmp_path):
    root = tmp_path / "index"
    LocalHybridIndex.open(root, create=True, embedder="m1").upsert(
        make_chunks("a.md", ["temporary files"]), vectors_for(1)
    )
    reader = LocalHybridIndex.open(root, reload_interval=0, embedder="m1")
    LocalHybridIndex.for_rebuild(root, embedder="m2").replace_all(
        make_chunks("b.md", ["one"]) + make_chunks("c.md", ["two"]), vectors_for(2)
    )
    # Its own model's vectors stay comparable: it serves them until it is restarted.
    assert [h.chunk.source for h in reader.search(None, "temporary", k=5, mode="sparse")] == [
        "a.md"
    ]
    # But writing its old version back would undo the rebuild: a writer refuses.
    with pytest.raises(IndexUnavailable, match="built with embedding model 'm2'"):
        reader.upsert(make_chunks("d.md", ["late"]), vectors_for(1))
    with pytest.raises(IndexUnavailable, match="built with embedding model 'm2'"):
        reader.delete_source("a.md")
    assert len(LocalHybridIndex.open(root, embedder="m2")) == 2  # the rebuild stands


def test_a_writer_does_not_write_its_old_version_over_a_corrupt_new_one(index, tmp_path):
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "version": "gone"}))
    with pytest.raises(IndexUnavailable, match="unreadable"):
        index.upsert(make_chunks("d.md", ["late"]), vectors_for(1))
    assert len(index) == 3  # still serving what it holds


def test_bm25_text_is_title_then_heading_path_then_chunk():
    assert indexed_text("Removed xmas.", "pnpm", "12.23.0 › Patch Changes") == (
        "pnpm\n\n12.23.0 › Patch Changes\n\nRemoved xmas."
    )
    assert indexed_text("pnpm intro", "pnpm", "") == "pnpm intro"  # the title once
    chunk = Chunk("Removed xmas.", {"source": "p.md", "title": "pnpm", "section": "12.23.0"})
    # "12.23.0" whole as well as its words: a version is one token of its own
    assert document_tokens([chunk]) == [["pnpm", "12", "23", "remov", "xmas", "12.23.0"]]


def test_a_version_only_the_heading_holds_finds_the_chunk(tmp_path):
    idx = LocalHybridIndex.open(tmp_path / "notes", create=True)
    meta = {"source": "CHANGELOG.md", "title": "pnpm"}
    chunks = [
        Chunk("Removed the obsolete xmas command.", {**meta, "chunk": 0, "section": "12.23.0"}),
        Chunk("Lists projects in dependency order.", {**meta, "chunk": 1, "section": "12.22.0"}),
    ]
    idx.upsert(chunks, vectors_for(2))
    hits = idx.search(None, "what changed in 12.22.0", k=5, mode="sparse")
    assert hits[0].chunk.text == "Lists projects in dependency order."
    assert hits[0].score > hits[1].score  # "12" is in both headings, "22" in one only
    assert hits[0].chunk.metadata["section"] == "12.22.0"  # returned as stored


def test_an_index_from_before_section_headings_asks_for_a_rebuild_and_says_why(index, tmp_path):
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    old = "bm25s-en-stopwords+snowball-en+title/2"
    manifest_path.write_text(json.dumps({**manifest, "tokenizer": old}))
    with pytest.raises(IndexUnavailable, match="section headings.*ingest --rebuild"):
        LocalHybridIndex.open(tmp_path / "index")


def test_a_version_is_one_token_whatever_its_prefix():
    assert tokenize(["Fixed in v4.4.0.", "date-fns 4.4.0", "Python 3.11"]) == [
        ["fix", "v4", "4.4.0"],
        ["date", "fns", "4.4.0"],
        ["python", "11", "3.11"],
    ]


def test_version_numbers_leave_dates_out():
    assert version_numbers("v4.3.0 - 2026-05-22, and Python 3.11") == ["4.3.0", "3.11"]
