"""The batched-generation bench builds its batches, passages, order and ratios as intended.
No model is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.batched_decode import (
    Entry,
    Plan,
    alternating,
    paired_ratio,
    passages,
    prompt_entries,
    step_entries,
    throughput_rows,
)


def test_a_prompt_fills_its_own_sequence_and_asks_logits_of_its_last_token_only() -> None:
    entries = prompt_entries([11, 12, 13], seq=2, start=5)
    assert entries == [
        Entry(11, 5, 2, False),
        Entry(12, 6, 2, False),
        Entry(13, 7, 2, True),
    ]


def test_a_step_holds_one_token_per_running_sequence_at_its_next_position() -> None:
    entries = step_entries({3: (30, 301), 1: (10, 305)})
    assert entries == [Entry(10, 305, 1, True), Entry(30, 301, 3, True)]


def test_passages_are_one_per_document_in_name_order_without_markup(tmp_path: Path) -> None:
    (tmp_path / "b.html").write_text(
        "<html><style>p {}</style><p>Tags&amp;entities   go.</p>" + "<p>word</p>" * 40 + "</html>"
    )
    (tmp_path / "a.md").write_text("# Title\n\n" + "text " * 100)
    (tmp_path / "c.pdf").write_text("not text " * 100)
    (tmp_path / "short.txt").write_text("too short")
    first, second = passages(tmp_path, count=2, chars=200)
    assert first.startswith("# Title text text") and len(first) == 200
    assert second.startswith("Tags&entities go. word") and "<" not in second and "{" not in second


def test_too_few_documents_is_an_error_not_a_short_list(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("text " * 100)
    with pytest.raises(ValueError, match="1 usable documents, 2 needed"):
        passages(tmp_path, count=2, chars=200)


def test_variants_alternate_their_order_round_by_round() -> None:
    assert list(alternating(["a", "b"], 3)) == [
        (0, "a"),
        (0, "b"),
        (1, "b"),
        (1, "a"),
        (2, "a"),
        (2, "b"),
    ]


def test_the_ratio_is_the_median_of_each_rounds_pair() -> None:
    assert paired_ratio([2.0, 9.0, 3.0], [1.0, 3.0, 1.0]) == 3.0


def test_throughput_rows_count_every_answers_tokens_and_judge_the_ratio() -> None:
    plan = Plan(counts=(1, 2), prompt_tokens=10, new_tokens=8, rounds=2, running=1)
    seconds = {
        (1, "one after another"): [1.0, 1.0],
        (1, "batched"): [1.0, 1.0],
        (2, "one after another"): [2.0, 2.0],
        (2, "batched"): [1.0, 1.0],
    }
    rows = {row.figure: row for row in throughput_rows(plan, seconds)}
    assert rows["generation, 2 answer(s) one after another"].value == 8.0
    assert rows["generation, 2 answer(s) batched"].value == 16.0
    ratio = rows["batched ÷ one after another, 2 answers"]
    assert ratio.value == 2.0 and ratio.verdict == "PASS"
    assert "batched ÷ one after another, 1 answers" not in rows
