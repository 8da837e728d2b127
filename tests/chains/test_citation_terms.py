"""A citation names the source that states what its claim names (logic only)."""

from __future__ import annotations

from langchain_core.documents import Document

from chains.llm.citation_terms import named_terms, source_text, source_to_cite


def test_names_are_code_identifiers_versions_and_proper_names() -> None:
    claim = (
        "Call `heapq.merge(*iterables, key=None)` or os.path.commonprefix with max_size, "
        "like getState and ExceptionGroup in release v4.3.0 of the Mersenne Twister."
    )
    assert named_terms(claim) == {
        "heapq.merge",  # the call's arguments are not part of the name
        "os.path.commonprefix",
        "max_size",
        "getState",
        "ExceptionGroup",
        "v4.3.0",
        "Mersenne Twister",
    }


def test_plain_words_and_a_capitalised_sentence_opener_name_nothing() -> None:
    assert named_terms("The answer is that the file is read once.") == set()
    assert named_terms("The Sniffer class guesses it.") == set()  # "The" opens the sentence
    assert named_terms("A Mersenne Twister.") == {"Mersenne Twister"}


SOURCES = [
    "random.random() returns the next float.",
    "The generator's state can be saved.",
    "Python uses the Mersenne Twister as the core generator.",
]


def test_a_citation_moves_to_the_source_that_states_the_name() -> None:
    claim = "The default generator is the Mersenne Twister. "
    assert source_to_cite(claim, [2], SOURCES) == 3


def test_a_citation_whose_source_states_the_names_stays() -> None:
    assert source_to_cite("It is the Mersenne Twister. ", [3], SOURCES) is None
    # As many names stated by the cited source as by any other: the model's choice stays.
    assert source_to_cite("Use `random.random`. ", [1], [*SOURCES, "random.random again"]) is None


def test_a_claim_that_names_nothing_keeps_its_citation() -> None:
    assert source_to_cite("It returns the next value. ", [2], SOURCES) is None


def test_nothing_cited_or_a_number_beyond_the_sources_gets_the_first_that_states_it() -> None:
    assert source_to_cite("Use `random.random()`.", [], SOURCES) == 1
    assert source_to_cite("Use `random.random()`.", [7], SOURCES) == 1
    assert source_to_cite("Use `secrets.token_hex`.", [], SOURCES) is None  # none states it
    assert source_to_cite("Use `random.random()`.", [], []) is None


def test_a_source_text_is_its_title_section_and_text() -> None:
    document = Document("Fixed a crash.", metadata={"title": "pnpm", "section": "v10.2.1"})
    assert source_text(document) == "pnpm v10.2.1\nFixed a crash."
    assert source_text(Document("Only text.")) == "Only text."
    # A version the claim names is found under the release that states it in its heading.
    sources = [
        source_text(Document("Fixed a crash.", metadata={"section": v}))
        for v in ("v10.2.0", "v10.2.1")
    ]
    assert source_to_cite("Release v10.2.1 fixed it. ", [1], sources) == 2
