"""How passages are written into the prompt: headers, lines, order, labels."""

from __future__ import annotations

from dataclasses import replace

from chains.passages import Passage
from chains.prompt_lines import (
    passage_header,
    shown_headers,
    without_section_number,
)


def test_a_passage_header_names_its_title_and_section():
    passage = Passage(2, "Removed the obsolete xmas command.", "pnpm", "12.23.0 › Patch Changes")
    assert passage_header(passage) == "pnpm › 12.23.0 › Patch Changes"
    assert passage_header(Passage(1, "text", "notes.txt")) == "notes.txt"
    assert passage_header(Passage(1, "text")) == ""


def test_a_long_heading_path_loses_its_upper_headings_first_never_the_title():
    section = " › ".join(["Server Administration", "Release Notes", "Release 15.16", "Changes"])
    passage = Passage(1, "Fix a buffer overrun.", "PostgreSQL 15 Manual", section)
    header = passage_header(passage, max_tokens=12)  # 48 characters
    assert header == "PostgreSQL 15 Manual › … › Changes"
    assert passage_header(passage, max_tokens=16) == (
        "PostgreSQL 15 Manual › … › Release 15.16 › Changes"
    )
    # Title and deepest heading alone too long: both are cut, the title still leads.
    long = Passage(1, "x", "A" * 60, "B" * 60)
    header = passage_header(long, max_tokens=10)
    assert len(header) <= 40 and header.startswith("AAA") and header.endswith("B…")
    assert len(passage_header(Passage(1, "x", "T" * 200), max_tokens=10)) <= 40


def test_headers_leave_out_section_numbers_but_keep_versions():
    numbered = Passage(1, "Fix a crash.", "PostgreSQL 15", "E.1. Release 15.20 › E.1.2. Changes")
    assert passage_header(numbered) == "PostgreSQL 15 › Release 15.20 › Changes"
    release = Passage(1, "Fix.", "coverage", "7.13.2 — 2026-01-09 › 12.17.0")
    assert passage_header(release) == "coverage › 7.13.2 — 2026-01-09 › 12.17.0"
    assert without_section_number("2.3. ") == "2.3. "  # nothing after it: left alone


def test_a_passage_header_carries_its_sections_date_line_whole() -> None:
    passage = Passage(
        1,
        "Fix a crash in logical replication when the publisher restarts.",
        title="PostgreSQL 15 Release Notes",
        section="E.1. Release 15.20 › E.1.2. Changes",
        dated="Release date: 2026-02-12",
    )
    header = passage_header(passage)
    assert header.endswith("Release 15.20 › Changes, Release date: 2026-02-12")
    assert header.startswith("PostgreSQL 15 Release Notes")
    assert passage_header(replace(passage, text="Release date: 2026-02-12")).endswith("Changes")


def test_the_headers_shown_are_listed_plain_and_as_the_fence_escapes_them() -> None:
    passages = [
        Passage(1, "a", title="Q & A", section="Install"),
        Passage(1, "b", title="Q & A", section="Install"),
        Passage(2, "c", title="Notes"),
    ]
    assert shown_headers(passages) == ["Q & A › Install", "Notes", "Q &amp; A › Install"]
