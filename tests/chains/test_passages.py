"""Focused context: cutting chunks into passages, scoring them, keeping to the budget.

Deterministic: the "embeddings" here count words, so every score can be worked out.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from langchain_core.documents import Document

from chains.passages import (
    Passage,
    cites_a_source,
    focus,
    lexical_scores,
    named_release_first,
    split_passages,
    supporting_passage,
    within_budget,
)
from chains.prompt_lines import approx_tokens, context_tokens, passage_lines

HEAPQ = """heapq.heappush(heap, item)

Push the value item onto the heap, maintaining the heap invariant.

heapq.heapreplace(heap, item)

Pop and return the smallest item from the heap, and also push the new item. The heap size
doesn't change. If the heap is empty, IndexError is raised.

Note

This one step operation is more efficient than a heappop() followed by heappush()."""

VOCABULARY = ["push", "pop", "smallest", "size", "efficient", "temporary", "file"]


def word_counts(text: str) -> np.ndarray:
    words = text.lower().replace(",", " ").replace(".", " ").split()
    return np.array([sum(w.startswith(v) for w in words) for v in VOCABULARY], dtype=float)


def embed_texts(texts: list[str]) -> np.ndarray:
    vectors = np.array([word_counts(t) for t in texts])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def embed_question(text: str) -> np.ndarray:
    return embed_texts([text])[0]


def test_a_signature_stays_with_its_description_and_a_heading_with_its_paragraph() -> None:
    passages = split_passages(2, HEAPQ)
    assert [p.number for p in passages] == [2, 2, 2]
    first, second, third = (p.text for p in passages)
    assert first == "heapq.heappush(heap, item) Push the value item onto the heap, " + (
        "maintaining the heap invariant."
    )
    assert second.startswith("heapq.heapreplace(heap, item) Pop and return the smallest")
    assert "The heap size doesn't change." in second  # wrapped lines are joined
    # The note is part of heapreplace's description: it opens with the signature it describes.
    assert third.startswith("heapq.heapreplace(heap, item) … Note This one step operation")


def test_each_later_passage_of_a_description_opens_with_its_signature() -> None:
    text = (
        "heapq.merge(*iterables, key=None, reverse=False)\n\n"
        "Merge multiple sorted inputs into a single sorted output.\n\n"
        "Similar to sorted(itertools.chain(*iterables)) but returns an iterable, does not\n"
        "pull the data into memory all at once."
    )
    first, second = (p.text for p in split_passages(1, text))
    assert first.startswith("heapq.merge(*iterables, key=None, reverse=False) Merge multiple")
    assert second == (
        "heapq.merge(*iterables, key=None, reverse=False) … Similar to "
        "sorted(itertools.chain(*iterables)) but returns an iterable, does not pull the data "
        "into memory all at once."
    )


def test_a_restructuredtext_directive_is_a_signature_and_a_long_one_is_cut() -> None:
    text = (
        ".. function:: getstate()\n\n   Return an object capturing the current internal state.\n\n"
        "   This object can be passed to setstate() to restore the state of the generator.\n\n"
        f".. function:: {'x' * 100}(a)\n\n   A function with a very long name does something."
    )
    passages = [p.text for p in split_passages(1, text)]
    assert passages[0].startswith(".. function:: getstate() Return an object")
    assert passages[1].startswith(".. function:: getstate() … This object can be passed")
    assert passages[2].startswith(".. function:: xxx")  # its own signature, whole
    assert len(passages) == 3


def test_a_long_paragraph_is_cut_between_sentences() -> None:
    text = " ".join(f"Sentence number {i} says something." for i in range(40))
    passages = split_passages(1, text, max_chars=120)
    assert len(passages) > 5
    assert all(len(p.text) <= 120 for p in passages)
    assert all(p.text.endswith("something.") for p in passages)
    assert " ".join(p.text for p in passages) == text


def test_the_budget_keeps_the_best_passages_that_fit_in_rank_order() -> None:
    ranked = [Passage(1, "a" * 40), Passage(2, "b" * 200), Passage(3, "c" * 40)]
    assert approx_tokens("a" * 40) == 10
    assert within_budget(ranked, 25) == [ranked[0], ranked[2]]  # 10 + 10; 50 does not fit
    assert within_budget([Passage(4, "d" * 400)], 10) == [Passage(4, "d" * 40)]  # cut to fit
    assert within_budget([], 10) == []


def test_lexical_scores_weigh_rare_shared_words_most() -> None:
    texts = ["the heap and the item", "the heap", "a temporary file"]
    scores = lexical_scores("which heap item?", texts)
    assert scores[0] == 1.0 and 0 < scores[1] < scores[0] and scores[2] == 0.0


def test_focus_puts_the_passage_that_answers_first_within_the_budget() -> None:
    documents = [
        Document("Use tempfile for a temporary file. It is removed on close."),
        Document(HEAPQ),
    ]
    question = "Which function pops the smallest item and pushes, so the size stays the same?"
    chosen = focus(question, documents, 60, embed_question, embed_texts)
    assert chosen[0].number == 2 and chosen[0].text.startswith("heapq.heapreplace")
    assert sum(approx_tokens(p.text) for p in chosen) <= 60


def test_focus_leans_on_words_where_retrieval_does(monkeypatch) -> None:
    import chains.passages as passages

    weights: list[float] = []
    score = passages.score_passages

    def recorded(*args, **kwargs):
        weights.append(args[4])
        return score(*args, **kwargs)

    monkeypatch.setattr(passages, "score_passages", recorded)
    documents = [Document("Use tempfile for a temporary file."), Document(HEAPQ)]
    focus("Which release made heapreplace faster?", documents, 40, embed_question, embed_texts)
    focus("How do I keep a heap the same size?", documents, 40, embed_question, embed_texts)
    assert weights == [passages.EXACT_DENSE_WEIGHT, passages.DENSE_WEIGHT]
    assert passages.EXACT_DENSE_WEIGHT < passages.DENSE_WEIGHT


def test_focus_keeps_every_passage_in_source_order_when_all_fit() -> None:
    documents = [Document("First source."), Document(HEAPQ)]
    chosen = focus("anything", documents, 10_000, embed_question, embed_texts)
    assert [p.number for p in chosen] == [1, 2, 2, 2]
    assert chosen[0].text == "First source."


def test_the_supporting_passage_is_the_one_whose_rare_words_the_answer_uses() -> None:
    passages = split_passages(3, HEAPQ)
    found = supporting_passage("Use heapq.heapreplace: it pops then pushes.", passages)
    assert found is not None and found.text.startswith("heapq.heapreplace")
    assert supporting_passage("The heap.", passages) is None  # every passage says "heap"
    assert supporting_passage("", passages) is None


def test_only_a_number_among_the_sources_counts_as_a_citation() -> None:
    assert cites_a_source("It is heapreplace [2].", 3)
    assert not cites_a_source("It is heapreplace [4].", 3)
    assert not cites_a_source("It is heapreplace.", 3)


def test_the_budget_counts_each_lines_header():
    bare = [Passage(1, "a" * 40), Passage(2, "b" * 40)]
    assert within_budget(bare, 22) == bare  # "[1] " + 40 characters: 11 tokens a line
    placed = [replace(p, title="Some title", section="Some section") for p in bare]
    line = "[1] " + "a" * 40 + " (from Some title › Some section)"
    assert context_tokens(placed[:1]) == approx_tokens(line) == 20
    assert within_budget(placed, 30) == placed[:1]  # 20 tokens each with its header
    # None fits: the best passage is cut so that it fits with its header.
    frame = len("[1] ") + len(" (from Some title › Some section)")
    long = replace(placed[0], text="a" * 400)
    assert within_budget([long], 30) == [replace(long, text="a" * (120 - frame))]
    assert within_budget(placed, 40) == placed


def test_passages_of_one_source_and_section_share_a_line_and_its_header():
    first, second = Passage(2, "a" * 40, "Title", "Sec"), Passage(2, "b" * 40, "Title", "Sec")
    other = Passage(1, "c" * 40, "Other", "")
    assert passage_lines([first, other, second]) == [
        "[1] " + "c" * 40 + " (from Other)",
        # Placed by its best passage, the best line last, labelled by that place (the
        # answer's [2] becomes source 2).
        "[2] " + "a" * 40 + " … " + "b" * 40 + " (from Title › Sec)",
    ]
    alone = context_tokens([first])
    # The second passage of a line costs its text and the joiner, not another header.
    assert context_tokens([first, second]) == approx_tokens(passage_lines([first, second])[0])
    assert context_tokens([first, second]) < 2 * alone
    assert within_budget([first, second, other], context_tokens([first, second])) == [
        first,
        second,
    ]
    # Another section of the same source is another line, with its own header.
    moved = replace(second, section="Other section")
    assert len(passage_lines([first, moved])) == 2


def test_focus_gives_passages_their_documents_title_and_section():
    documents = [
        Document(
            "Removed the obsolete xmas command.", metadata={"title": "pnpm", "section": "12.23.0"}
        ),
        Document("Plain text.", metadata={"title": "notes.txt"}),
    ]
    chosen = focus("xmas", documents, 10_000, embed_question, embed_texts)
    assert [(p.title, p.section) for p in chosen] == [("pnpm", "12.23.0"), ("notes.txt", "")]


def test_focus_gives_each_passage_its_chunks_date_line() -> None:
    chunk = Document(
        "Fix a crash in logical replication when the publisher restarts.",
        metadata={"title": "Notes", "section": "Changes", "heading_date": "Released 2026-02-12"},
    )
    (passage,) = focus("crash", [chunk], 200, embed_question, embed_texts)
    assert passage.dated == "Released 2026-02-12"
    assert passage_lines([passage])[0].endswith("(from Notes › Changes, Released 2026-02-12)")


def test_the_passages_under_a_release_the_question_names_come_first() -> None:
    def under(section: str, text: str) -> Passage:
        return Passage(1, text, title="Change Log", section=section)

    closer = under("v4.2.0 - 2026-05-18", "This is a minor release in all senses.")
    named = under("v4.3.0 - 2026-05-22", "Fixed `pt` locale first day of week.")
    also_named = under("v4.3.0 - 2026-05-22", "Fixed zh-CN month parsing.")
    ranked = [closer, named, under("v4.0.0", "Time zones."), also_named]
    first = named_release_first("When was date-fns v4.3.0 released?", ranked)
    assert first[:2] == [named, also_named] and set(first[2:]) == {ranked[0], ranked[2]}
    assert first[2] == closer  # the rest keep their rank
    assert named_release_first("When was date-fns released?", ranked) == ranked
    assert named_release_first("What changed in 9.9.9?", ranked) == ranked


def test_focus_keeps_a_named_releases_passage_that_shares_no_word_with_the_question() -> None:
    documents = [
        Document(
            "This is a minor release in all senses. Released with care.",
            metadata={"title": "Change Log", "section": "v4.2.0 - 2026-05-18"},
        ),
        Document(
            "Fixed `pt` locale first day of week to be Sunday.",
            metadata={"title": "Change Log", "section": "v4.3.0 - 2026-05-22"},
        ),
    ]
    (chosen,) = focus("When was v4.3.0 released?", documents, 20, embed_question, embed_texts)
    assert chosen.number == 2


def test_an_answer_naming_a_release_draws_on_the_passage_under_it() -> None:
    passages = [
        Passage(1, "Removed the obsolete `xmas` command.", title="pnpm", section="12.22.0"),
        Passage(2, "Added the `pnpm edit` command.", title="pnpm", section="12.23.0"),
    ]
    assert supporting_passage("Release 12.23.0 did that.", passages) == passages[1]
