"""The Documents page's pure helpers: the metadata box, progress bars, rows and chunks."""

from __future__ import annotations

import pytest

from frontend.documents.formatting import (
    chunk_details,
    chunk_heading,
    chunk_score,
    escape_markdown,
    format_added,
    format_metadata,
    format_when,
    plural,
)
from frontend.documents.jobs import any_active, is_active, progress_fraction, progress_label
from frontend.documents.metadata import MetadataSyntaxError, parse_metadata_lines


def job(state: str, done: int = 0, total: int = 0, **extra: object) -> dict[str, object]:
    return {"id": "j1", "source": "notes.md", "state": state, "chunks_done": done,
            "chunks_total": total, **extra}  # fmt: skip


def test_metadata_lines_become_string_pairs_and_blank_lines_are_skipped() -> None:
    text = "team=docs\n\n  year = 2024  \nurl=https://x.test/?a=b\nempty="
    assert parse_metadata_lines(text) == {
        "team": "docs",
        "year": "2024",
        "url": "https://x.test/?a=b",
        "empty": "",
    }
    assert parse_metadata_lines("") == {} and parse_metadata_lines(" \n ") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("team=docs\njust words", "line 2 is not key=value: 'just words'"),
        ("=docs", "line 1 is not key=value"),
        ("team=a\nteam=b", "line 2: 'team' is given twice"),
        ("k" * 65 + "=v", "longer than 64 characters"),
    ],
)
def test_malformed_metadata_says_which_line(text: str, problem: str) -> None:
    with pytest.raises(MetadataSyntaxError, match=problem.replace("(", r"\(").replace("?", r"\?")):
        parse_metadata_lines(text)


@pytest.mark.parametrize(
    ("the_job", "fraction", "label"),
    [
        (job("queued"), 0.0, "notes.md · queued"),
        (job("running"), 0.0, "notes.md · splitting…"),
        (job("running", 6, 24), 0.25, "notes.md · 6/24 chunks"),
        (job("running", 6, 24, cancel_requested=True), 0.25, "notes.md · cancelling…"),
        (job("done", 24, 24), 1.0, "notes.md · done · 24 chunks"),
        (job("done", 1, 1), 1.0, "notes.md · done · 1 chunk"),
        (job("failed", error="no text found"), 0.0, "notes.md · failed"),
        (job("cancelled", 8, 32), 0.25, "notes.md · cancelled after 8/32 chunks"),
        (job("running", 30, 24), 1.0, "notes.md · 30/24 chunks"),
        (job("paused"), 0.0, "notes.md · paused"),
    ],
)
def test_progress_fraction_and_label(the_job: dict, fraction: float, label: str) -> None:
    assert progress_fraction(the_job) == fraction
    assert progress_label(the_job) == label


def test_only_queued_and_running_jobs_are_polled() -> None:
    assert is_active(job("queued")) and is_active(job("running"))
    assert not any(is_active(job(state)) for state in ("done", "failed", "cancelled", "paused"))
    assert any_active([job("done"), job("running")])
    assert not any_active([job("done"), job("failed")]) and not any_active([])


def test_document_rows_read_like_the_upload_form() -> None:
    assert format_metadata({"team": "docs", "year": 2024}) == "team=docs · year=2024"
    assert format_metadata(None) == ""
    assert format_when("2026-11-26T17:45:10.088698+00:00") == "2026-11-26 17:45 UTC"
    assert format_when("2026-11-26T17:45:10") == "2026-11-26 17:45"
    assert format_when("yesterday") == "yesterday" and format_when(None) == ""
    assert format_added("ada", "2026-11-26T17:45:10+00:00") == "ada · 2026-11-26 17:45 UTC"
    assert format_added(None, None) == ""


def test_retrieved_chunks_show_source_title_score_and_the_rest_of_the_metadata() -> None:
    chunk = {
        "page_content": "The Zorblax protocol listens on port 48213.",
        "metadata": {"source": "z.md", "title": "Zorblax", "chunk": 0, "team": "eng", "id": "h"},
        "score": 0.78099,
    }
    assert chunk_heading(1, chunk) == "[1] Zorblax · `z.md`"
    assert chunk_details(chunk) == "score 0.781 · chunk=0 · team=eng"
    assert chunk_heading(2, {"metadata": {}}) == "[2] untitled chunk"


def test_a_score_in_the_metadata_counts_too() -> None:
    assert chunk_score({"metadata": {"score": 0.5}}) == 0.5
    assert chunk_score({"score": 0.25, "metadata": {"score": 0.5}}) == 0.25
    assert chunk_score({"score": True, "metadata": {}}) is None
    assert chunk_details({"metadata": {"source": "a.md"}}) == ""


def test_titles_are_shown_as_written_not_as_markdown() -> None:
    assert escape_markdown("__init__ costs $5") == r"\_\_init\_\_ costs \$5"
    assert escape_markdown("Plain title") == "Plain title"
    chunk = {"metadata": {"title": "*Draft* notes", "source": "d.md"}}
    assert chunk_heading(1, chunk) == r"[1] \*Draft\* notes · `d.md`"


def test_counts_read_in_the_singular_and_plural() -> None:
    assert [plural(n, "chunk") for n in (0, 1, 2)] == ["0 chunks", "1 chunk", "2 chunks"]
