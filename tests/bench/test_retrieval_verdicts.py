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
