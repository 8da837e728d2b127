"""How a waiting answer tells its place in line."""

from __future__ import annotations

from frontend.render import queue_line


def test_the_place_reads_as_a_sentence_with_the_estimate_rounded() -> None:
    assert (
        queue_line({"ahead": 2, "estimate_seconds": 8.6}) == "2 questions ahead of yours, about 9 s"
    )
    assert (
        queue_line({"ahead": 1, "estimate_seconds": 0.2}) == "1 question ahead of yours, about 1 s"
    )


def test_without_a_timed_answer_yet_only_the_place_is_told() -> None:
    assert queue_line({"ahead": 3, "estimate_seconds": None}) == "3 questions ahead of yours"
