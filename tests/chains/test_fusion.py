"""Fusion: the dense weight follows the question, and the per-page cap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from chains.index.chunks import Chunk
from chains.index.fusion import (
    asks_for_release,
    cap_per_source,
    fuse,
    leans_on_words,
    names_code,
    query_alpha,
)
from chains.index.local import LocalHybridIndex
from chains.retrieval import Retriever
from settings import Settings


@pytest.mark.parametrize(
    "question",
    [
        "What does mkdtemp() return?",
        "how do I use os.path.join",
        "what is max_size for?",
        "Which exception does JSONDecodeError subclass?",
        "what does `dumps` do with sort keys",
        "is there a --upgrade-deps option",
        "does getLogger cache loggers",
    ],
)
def test_questions_that_name_code(question):
    assert names_code(question)


@pytest.mark.parametrize(
    "question",
    [
        "How can I make a scratch folder that disappears afterwards?",
        "Which function turns bytes into text for a web address?",
        "Is it safe to compare secrets in the usual way?",
        "What does Python do with 0.1 + 0.2, and why?",
        "e.g. a well-known sorting trick",
    ],
)
def test_questions_in_plain_words(question):
    assert not names_code(question)


def test_the_weight_follows_the_question():
    assert query_alpha("what does mkdtemp() return", plain=0.9, code=0.4) == 0.4
    assert query_alpha("where do temporary folders go", plain=0.9, code=0.4) == 0.9
    assert query_alpha("Which pnpm release removed the xmas command?", plain=0.9, code=0.4) == 0.4


@pytest.mark.parametrize(
    "question",
    [
        "Which pnpm release removed the obsolete xmas command?",
        "In which version of pnpm was the xmas command removed?",
        "What date-fns version fixed the pt locale?",
        "Since which version does store pruning stop?",
        "When was the CDN package first published?",
        "Which releases changed the lockfile format?",
        "Which node.js release dropped the flag?",  # a product name with a dot
        "When did the tool stop reading passwords from its config?",
        "On what date did the first beta come out?",
    ],
)
def test_questions_that_ask_for_a_release(question):
    assert asks_for_release(question) and leans_on_words(question)


@pytest.mark.parametrize(
    "question",
    [
        "How do I make my dice rolls come out the same each time?",
        "Why does adding a tenth three times not come out equal to three tenths?",
        "How do I release a lock that another thread holds?",
        "Which function turns bytes into text for a web address?",
        "When I save JSON, letters come out as escape codes. Which option keeps them?",
    ],
)
def test_questions_that_do_not_ask_for_a_release(question):
    assert not asks_for_release(question) and not leans_on_words(question)


def test_fuse_is_the_convex_combination_pinecone_computes():
    dense, sparse = np.array([0.5, 0.1]), np.array([0.0, 0.8])
    assert np.allclose(fuse(dense, sparse, 0.25), [0.125, 0.625])


def test_cap_keeps_order_and_skips_pages_over_the_cap():
    sources = ["a", "a", "a", "b", "a", "c"]
    assert cap_per_source(range(6), sources, k=4, cap=2) == [0, 1, 3, 5]
    assert cap_per_source(range(6), sources, k=3, cap=None) == [0, 1, 2]
    assert cap_per_source(range(6), sources, k=10, cap=1) == [0, 3, 5]


FAKE = DeterministicFakeEmbedding(size=16)


def retriever_with(tmp_path: Path, **settings: object) -> Retriever:
    config = Settings(data_dir=tmp_path / "data", _env_file=None, **settings)
    index = LocalHybridIndex.open(config.index_dir, create=True)
    texts = [f"json encoder part {i}" for i in range(4)] + ["json decoder", "csv reader"]
    sources = ["json.md"] * 4 + ["decoder.md", "csv.md"]
    chunks = [
        Chunk(t, {"source": s, "chunk": i})
        for i, (t, s) in enumerate(zip(texts, sources, strict=True))
    ]
    index.upsert(chunks, FAKE.embed_documents(texts))
    return Retriever(config, FAKE, None)


def test_the_retriever_applies_the_cap(tmp_path):
    uncapped = retriever_with(tmp_path / "a").search("json encoder", k=3, mode="sparse")
    assert [d.metadata["source"] for d in uncapped] == ["json.md"] * 3
    capped = retriever_with(tmp_path / "b", max_chunks_per_source=1).search(
        "json encoder", k=3, mode="sparse"
    )
    assert [d.metadata["source"] for d in capped] == ["json.md", "decoder.md"]


def test_the_retriever_weighs_by_the_question_unless_alpha_is_given(tmp_path, monkeypatch):
    retriever = retriever_with(tmp_path, hybrid_alpha=0.9, hybrid_alpha_code=0.1)
    seen: list[float] = []
    original = retriever.backend.search

    def spy(*args, **kwargs):
        seen.append(kwargs["alpha"])
        return original(*args, **kwargs)

    monkeypatch.setattr(retriever.backend, "search", spy)
    retriever.search("the json encoder", k=2)
    retriever.search("json.dumps()", k=2)
    retriever.search("json.dumps()", k=2, alpha=0.5)
    assert seen == [0.9, 0.1, 0.5]


def test_a_version_number_counts_as_code_a_fraction_does_not():
    for question in ("Which fixes are in 12.22.0?", "When was v4.4 out?", "Release 15.16 notes"):
        assert names_code(question), question
    for question in ("Why is 0.1 not exact?", "Version 3 of the plan", "Costs 2 dollars."):
        assert not names_code(question), question
