"""Copied passage headers are cut from answers as they stream; `[n]` and code stay."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from chains.llm.citations import HELD_CHARS, CitationFilter, CleanCitations


def tokens(text: str, piece: int) -> list[str]:
    """`text` cut as a model streams it: words with the space before them (" [", "from"),
    each cut again into `piece` characters at most."""
    words = re.findall(r"\s*[\[(]|\s*[^\s\[(]+", text)
    pieces = []
    for word in words:
        lead = len(word) - len(word.lstrip()) + piece  # " [" stays one token
        pieces += [word[:lead]] + [word[i : i + piece] for i in range(lead, len(word), piece)]
    return pieces


def spaced_tokens(text: str) -> list[str]:
    """Cut as GenericFakeChatModel and some tokenizers do: a space is a token of its own."""
    return re.split(r"(\s)", text)


def streamed(text: str, piece: int) -> str:
    """`text` through a filter, fed token by token."""
    cleaner = CitationFilter()
    shown = [cleaner.feed(token) for token in tokens(text, piece)]
    return "".join(shown) + cleaner.flush()


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
@pytest.mark.parametrize(
    ("answer", "clean"),
    [
        (  # release-notes tune half, s17
            "Release 12.17.0 changed --env-file [from pnpm › 12.17.0].",
            "Release 12.17.0 changed --env-file.",
        ),
        (  # r08: a bare release before the asked-for citation
            "Release 12.20.0 made dedupe keep it [12.20.0]. [1]",
            "Release 12.20.0 made dedupe keep it. [1]",
        ),
        (
            "It is v4.4.0 [from Change Log › v4.4.0 - 2026-05-30] [1].",
            "It is v4.4.0 [1].",
        ),
        ("Use heapq.merge (from heapq › Functions) [2].", "Use heapq.merge [2]."),
        (  # release-notes test half, c08: a second bracket after the copy
            "It came out on 2026-11-11 [from Change history › Version 7.17.3 — 2026-11-11]].",
            "It came out on 2026-11-11.",
        ),
        (
            "Index x[from_y]] stays when nothing was cut.",
            "Index x[from_y]] stays when nothing was cut.",
        ),
        ("Use math.sqrt(x) [1].", "Use math.sqrt(x) [1]."),
        ("Index with a[i] or list[int] [1, 3].", "Index with a[i] or list[int] [1, 3]."),
        ("Counted (from zero) in order [2].", "Counted (from zero) in order [2]."),
    ],
)
def test_copied_headers_go_and_the_rest_stays(answer: str, clean: str, piece: int) -> None:
    assert streamed(answer, piece) == clean


BASE64 = "base64 — Base16, Base32, Base64, Base85 Data Encodings — Python 3.11.2 document…"


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
def test_a_copy_of_a_header_the_prompt_showed_goes_though_it_has_no_separator(
    piece: int,
) -> None:
    # answers.jsonl tune half, t02: the passage's title was its whole header.
    answer = f"A binascii.Error is raised if s is incorrectly padded. (from {BASE64}) [1]"
    cleaner = CitationFilter(headers=[BASE64, "Q &amp; A"])
    shown = "".join(cleaner.feed(t) for t in tokens(answer, piece)) + cleaner.flush()
    assert shown == "A binascii.Error is raised if s is incorrectly padded. [1]"
    other = "Counted (from base64 — elsewhere) [1]."  # not a header the prompt showed
    cleaner = CitationFilter(headers=[BASE64])
    assert "".join(cleaner.feed(t) for t in tokens(other, piece)) + cleaner.flush() == other


def test_a_copy_after_a_space_token_leaves_one_space() -> None:
    cleaner = CitationFilter()
    text = "Release 2.0.3 fixed it [from tool › 2.0.3] [2]."
    shown = "".join(cleaner.feed(t) for t in spaced_tokens(text)) + cleaner.flush()
    assert shown == "Release 2.0.3 fixed it [2]."


def test_a_header_cut_off_by_the_token_limit_goes() -> None:
    assert streamed("Release 12.17.0 did it [from pnpm › 12.1", 2) == "Release 12.17.0 did it"


def test_an_unclosed_bracket_that_is_not_a_header_is_kept_at_the_end() -> None:
    assert streamed("The list starts with [1, 2", 2) == "The list starts with [1, 2"


def test_chunks_stay_whole_so_counting_them_counts_tokens() -> None:
    cleaner = CitationFilter()
    assert [cleaner.feed(t) for t in ["Paris", " ", "is"]] == ["Paris", " ", "is"]


def test_text_before_a_bracket_is_shown_without_waiting_for_it() -> None:
    cleaner = CitationFilter()
    assert cleaner.feed("Release 4.4.0 did it") == "Release 4.4.0 did it"
    assert cleaner.feed(" [fro") == ""  # held: it may be a copied header
    assert cleaner.feed("m x › y] now") == " now"
    assert cleaner.flush() == ""


def test_a_long_open_bracket_is_text_and_is_not_held_forever() -> None:
    cleaner = CitationFilter()
    shown = cleaner.feed("see [" + "word " * (HELD_CHARS // 5 + 2))
    assert shown.startswith("see [word")


class Tokens(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


async def test_the_wrapped_model_streams_cleaned_tokens_to_callbacks_once() -> None:
    fake = GenericFakeChatModel(
        messages=iter([AIMessage(content="Release 2.0.3 fixed it [from tool › 2.0.3] [2].")])
    )
    handler = Tokens()
    chunks = [
        chunk.content
        async for chunk in CleanCitations(model=fake).astream("q", {"callbacks": [handler]})
    ]
    assert "".join(str(c) for c in chunks) == "Release 2.0.3 fixed it [2]."
    assert "".join(handler.tokens) == "Release 2.0.3 fixed it [2]."


def renumbered(text: str, sources: dict[int, int], piece: int) -> str:
    cleaner = CitationFilter(sources)
    shown = [cleaner.feed(token) for token in tokens(text, piece)]
    return "".join(shown) + cleaner.flush()


@pytest.mark.parametrize("piece", [1, 3, 1000])
@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("It is 15.20 [1].", "It is 15.20 [3]."),
        ("Both [1, 2] and [2][1].", "Both [3, 1] and [1][3]."),
        ("Index a[1] or x[0][1] stays [2].", "Index a[1] or x[0][1] stays [1]."),
        ("A label the prompt lacked stays [7].", "A label the prompt lacked stays [7]."),
        ("A copy goes [from pnpm › 12.1] [1].", "A copy goes [3]."),
    ],
)
def test_cited_prompt_labels_become_source_numbers(answer: str, shown: str, piece: int) -> None:
    assert renumbered(answer, {1: 3, 2: 1}, piece) == shown


def test_prompt_labels_follow_the_order_the_prompt_shows() -> None:
    from chains.passages import Passage
    from chains.prompt_lines import passage_lines, prompt_labels

    passages = [Passage(2, "best"), Passage(4, "next"), Passage(2, "more of the best")]
    assert prompt_labels(passages) == {4: 1, 2: 2}  # the best line last, next to the question
    lines = passage_lines(passages)
    assert lines[0].startswith("[1] next") and lines[1].startswith("[2] best … more of")


CHECKED_SOURCES = [
    "heapq.merge(*iterables) merges sorted inputs.",
    "bisect.insort(a, x) inserts x in order.",
    "Python uses the Mersenne Twister as the core generator.",
]


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
def test_each_claims_citation_names_the_source_that_states_its_names(piece: int) -> None:
    """Prompt label 1 is source 1 and label 2 source 2 here; the model cited label 1 for
    both claims, and the second claim's name is only in source 2."""
    cleaner = CitationFilter({1: 1, 2: 2}, source_texts=CHECKED_SOURCES)
    answer = "`heapq.merge` merges them [1]. To insert in order, use `bisect.insort` [1]."
    shown = "".join(cleaner.feed(token) for token in tokens(answer, piece)) + cleaner.flush()
    assert shown == "`heapq.merge` merges them [1]. To insert in order, use `bisect.insort` [2]."


def test_a_citation_is_checked_after_its_label_becomes_a_source_number() -> None:
    # The prompt showed source 3 as its first line: the model's [1] is source 3, which
    # states the name, so it stays source 3.
    cleaner = CitationFilter({1: 3, 2: 1}, source_texts=CHECKED_SOURCES)
    shown = cleaner.feed("It is the Mersenne Twister [1].") + cleaner.flush()
    assert shown == "It is the Mersenne Twister [3]."
    wrong = CitationFilter({1: 1, 2: 3}, source_texts=CHECKED_SOURCES)
    assert wrong.feed("It is the Mersenne Twister [1].") + wrong.flush() == (
        "It is the Mersenne Twister [3]."
    )


def test_without_source_texts_citations_are_only_renumbered() -> None:
    cleaner = CitationFilter({1: 2})
    assert cleaner.feed("It is the Mersenne Twister [1].") + cleaner.flush() == (
        "It is the Mersenne Twister [2]."
    )
