"""How the retrieval bench states a miss: in questions, so a one-question miss reads as one."""

from __future__ import annotations

from bench.retrieval_quality import _short
from bench.retrieval_scores import Figures


def test_a_miss_is_counted_in_questions():
    assert _short(0.92, Figures(87 / 97, 0.8, 0.5, 97)) == " (3 questions short of 97)"
    assert _short(1.0, Figures(58 / 59, 0.9, 0.5, 59)) == " (1 question short of 59)"


def test_a_met_target_says_nothing():
    assert _short(0.92, Figures(90 / 97, 0.8, 0.5, 97)) == ""
    assert _short(0.789, Figures(30 / 38, 0.6, 0.5, 38)) == ""  # 30/38 rounds to 0.789


def test_bootstrap_interval_holds_zero_only_for_a_non_difference():
    import numpy as np

    from bench.retrieval_scores import paired_interval

    same = np.array([1, 0, 1, 1, 0] * 20, dtype=float)
    assert paired_interval(same, same) == (0.0, 0.0)
    one_more = same.copy()
    one_more[1] = 1  # one question of 100 better: indistinguishable from no change
    low, high = paired_interval(one_more, same)
    assert low <= 0.0 < high
    many_more = np.ones(100)  # 40 questions of 100 better
    low, high = paired_interval(many_more, same)
    assert 0.25 < low < 0.4 < high < 0.55


def test_information_rows_carry_no_verdict():
    from bench.external import parse_tables, retrieval_quality_rows

    markdown = "\n".join(
        [
            "| rule | all R@5 |",
            "| --- | --- |",
            "| dense | 0.907 |",
            "",
            "| target | measured | verdict |",
            "| --- | --- | --- |",
            "| hybrid R@5 ≥ 0.92 (all) | 0.897 (3 questions short of 97) | MISS |",
            "| hybrid − dense R@5 (all), 95% interval | -0.010 [-0.031, +0.000] | information |",
        ]
    )
    rows = retrieval_quality_rows(parse_tables(markdown))
    assert [r.verdict for r in rows] == ["info", "MISS", "info"]
    assert rows[1].value == 0.897 and rows[2].value == -0.010


def test_the_opt_in_embedders_verdicts_are_information_that_keep_their_outcome():
    from bench.external import opt_in_embedder_rows, parse_tables

    markdown = "\n".join(
        [
            "| rule | all R@5 |",
            "| --- | --- |",
            "| dense | 0.959 |",
            "",
            "| target | measured | verdict |",
            "| --- | --- | --- |",
            "| hybrid R@5 ≥ 0.92 (all) | 0.948 | PASS |",
            "| hybrid MRR ≥ dense and sparse (all) | 0.883 vs 0.888 | MISS |",
            "| hybrid − dense MRR (all), 95% interval | -0.005 [-0.014, +0.002] | information |",
        ]
    )
    rows = opt_in_embedder_rows(parse_tables(markdown))
    assert [r.verdict for r in rows] == ["info", "info", "info"]  # not the default's targets
    assert {r.benchmark for r in rows} == {"retrieval quality, all-mpnet-base-v2 (opt-in)"}
    assert [r.note.split(":")[0] for r in rows[:2]] == ["PASS", "MISS"]
    assert rows[0].value == 0.948
