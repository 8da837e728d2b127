"""The release-notes labelled set holds what it says: each answer is in its release's heading."""

from __future__ import annotations

import json
import re

from bench.release_notes import CORPUS, QUESTIONS, item_words, right_release, words


def rows() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]


# A release heading: Markdown's `## 12.23.0`, or a reST title underlined with dashes.
HEADING = {".md": r"^## {}\s*$", ".rst": r"^{}\n-{{3,}}\s*$"}


def release_text(source: str, heading: str) -> str:
    path = CORPUS / source
    text, pattern = path.read_text(), HEADING[path.suffix]
    start = re.search(pattern.format(re.escape(heading)), text, re.M)
    assert start, heading
    end = re.search(pattern.format(r"\S.*"), text[start.end() :], re.M)
    return text[start.start() : start.end() + (end.start() if end else len(text))]


def test_at_least_thirty_questions_split_by_release():
    questions = rows()
    assert len({q["id"] for q in questions}) == len(questions)
    assert len([q for q in questions if q["split"] == "test"]) >= 30
    halves: dict[str, set[tuple[str, str]]] = {}
    for split in ("tune", "test"):
        halves[split] = {(q["source"], q["section"]) for q in questions if q["split"] == split}
    assert halves["tune"] and halves["test"] and not halves["tune"] & halves["test"]


def test_each_answer_needs_the_heading_and_its_evidence_is_under_it():
    for q in rows():
        section = release_text(q["source"], q["section"])
        for part in q["evidence"].split(" ... "):
            quoted = re.sub(r"^#### [^-]+- ", "- ", part).lstrip("- ").strip()
            assert quoted in section, (q["id"], quoted)
        if q["kind"] in ("release", "date"):  # the answer is in the release heading
            assert q["fact"] in q["section"], q["id"]
        else:
            assert f"#### {q['fact']}" in section, q["id"]


def test_a_source_is_right_when_it_lies_under_the_gold_release():
    meta = {"source": "bench/data/release_notes/pnpm/CHANGELOG.md"}
    assert right_release(
        {**meta, "section": "12.22.0 › Patch Changes"}, "pnpm/CHANGELOG.md", "12.22.0"
    )
    assert right_release({**meta, "section": "12.22.0"}, "pnpm/CHANGELOG.md", "12.22.0")
    assert not right_release({**meta, "section": "12.22.01"}, "pnpm/CHANGELOG.md", "12.22.0")
    assert not right_release({**meta, "section": ""}, "pnpm/CHANGELOG.md", "12.22.0")
    assert not right_release({**meta, "section": "12.22.0"}, "date-fns/CHANGELOG.md", "12.22.0")


def test_the_item_a_passage_must_hold_is_the_evidence_after_its_heading():
    assert item_words("#### Setup and diagnostics ... pnpm now provides a binary") == {
        "pnpm",
        "now",
        "provides",
        "a",
        "binary",
    }
    assert item_words("## v4.3.0 - 2026-05-22") == frozenset()  # a date: the header says it
    assert item_words("Fixed `pt` locale.") <= words("- Fixed `pt` locale first day of week")


def test_a_citation_is_valid_when_the_cited_source_lies_under_the_gold_release():
    from bench.answer_quality import Outcome, question_from_row
    from bench.release_notes import cites_gold

    row = next(q for q in rows() if q["id"] == "s02")  # pnpm 12.23.0
    source = "bench/data/release_notes/pnpm/CHANGELOG.md"
    sources = [
        {"source": source, "metadata": {"section": "12.22.0 › Patch Changes"}},
        {"source": source, "metadata": {"section": "12.23.0 › Patch Changes"}},
    ]
    releases = {"s02": row["section"]}

    def cited(answer: str) -> bool:
        outcome = Outcome(question_from_row(row), answer=answer, sources=sources)
        return cites_gold(outcome, releases)

    assert cited("Removed in 12.23.0 [2].")
    assert not cited("Removed in 12.23.0 [1].") and not cited("Removed in 12.23.0.")
    assert not cited("Removed in 12.23.0 [3].")  # no third source


def test_an_answer_the_server_failed_is_never_right():
    from bench.answer_quality import Outcome, question_from_row

    question = question_from_row(next(q for q in rows() if q["id"] == "s02"))
    assert Outcome(question, answer="It was 12.23.0.").right
    failed = Outcome(question, answer="It was 12.23.0.", error="HTTP 504: timed out")
    assert not failed.right
