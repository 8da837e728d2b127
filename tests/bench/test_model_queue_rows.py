"""The several-askers bench's verdicts: the queue bound per place and the interleaving ratios."""

from __future__ import annotations

import pytest

from bench.model_queue import queue_bound_row, ratio_rows, workers_rows


def test_place_k_is_held_to_k_minus_one_answers_plus_its_first_token() -> None:
    # Alone: first token 1 s, whole answer 3 s. Place 3 can start at best after 2 answers.
    by_place = {1: [1.0, 1.1], 2: [4.0, 4.2], 3: [7.2, 7.0]}
    row = queue_bound_row(by_place, ttft=1.0, answer=3.0)
    # Ratios: place 1 1.05, place 2 4.1 / 4, place 3 7.1 / 7: the worst is reported.
    assert row.value == pytest.approx(1.05) and row.ok
    assert "place 1" in row.note


def test_a_place_that_waits_longer_than_the_answers_ahead_misses() -> None:
    row = queue_bound_row({1: [1.0], 2: [6.0]}, ttft=1.0, answer=3.0)
    assert row.value == pytest.approx(1.5) and row.ok is False and "place 2" in row.note


def test_interleaving_ratios_compare_the_kept_states_runs() -> None:
    mixes = {
        "back to back, kept prompt states on": [1.0, 1.0, 1.2],
        "after /formatted, kept prompt states on": [1.1, 1.1, 1.1],
        "after /formatted, kept prompt states off": [3.0, 3.0, 3.0],
        "two sessions taking turns, kept prompt states on": [2.0],
        "two sessions one after the other, kept prompt states on": [1.0],
    }
    rows = {row.figure: row for row in ratio_rows(mixes)}
    formatted = rows["TTFT p50, /chat after /formatted ÷ back to back"]
    assert formatted.value == pytest.approx(1.1) and formatted.ok
    sessions = rows["TTFT p50, two /chat sessions taking turns ÷ one after the other"]
    assert sessions.value == pytest.approx(2.0) and sessions.ok is False


def test_workers_rows_compare_throughput_and_first_tokens() -> None:
    from types import SimpleNamespace

    def answers(ttfts: list[float], total: float) -> list[tuple[str, SimpleNamespace]]:
        return [
            (f"u{i}", SimpleNamespace(ttft=t, total=total, tokens=50)) for i, t in enumerate(ttfts)
        ]

    rows = {r.figure: r for r in workers_rows(answers([1, 3], 10.0), answers([2, 2], 20.0))}
    assert rows["1 worker: all answers together tokens/s"].value == pytest.approx(10.0)
    assert rows["2 workers: all answers together tokens/s"].value == pytest.approx(5.0)
    assert rows["1 worker: TTFT p50 / p95 over all"].value == pytest.approx(2000.0)
