"""Figures of a ranking rule over precomputed scores: page-level R@5, MRR@10, two-page
recall, and whether the answer is in the five chunks the model reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chains.index import fusion

K_RECALL, K_MRR = 5, 10

Rule = Callable[[np.ndarray, np.ndarray, str], np.ndarray]


@dataclass
class ScoreTable:
    """Dense and sparse scores of every chunk for every question, and each chunk's page."""

    questions: list[dict]
    dense: np.ndarray  # (questions, chunks)
    sparse: np.ndarray
    pages: np.ndarray  # (chunks,) source of each chunk
    texts: list[str]  # (chunks,) lower-cased text of each chunk

    def subset(self, keep: Callable[[dict], bool]) -> ScoreTable:
        rows = [i for i, q in enumerate(self.questions) if keep(q)]
        return ScoreTable(
            [self.questions[i] for i in rows],
            self.dense[rows],
            self.sparse[rows],
            self.pages,
            self.texts,
        )


def gold_pages(question: dict) -> set[str]:
    return set(question.get("sources") or [question["source"]])


def ranked_chunks(table: ScoreTable, row: int, rule: Rule, cap: int | None) -> list[int]:
    """The top chunks under `rule`, at most `cap` chunks per page (None: no cap)."""
    fused = rule(table.dense[row], table.sparse[row], table.questions[row]["question"])
    order = np.argsort(-fused, kind="stable")
    return fusion.cap_per_source(order, table.pages, K_MRR, cap)


def ranked_pages(table: ScoreTable, row: int, rule: Rule, cap: int | None) -> list[str]:
    return [str(table.pages[i]) for i in ranked_chunks(table, row, rule, cap)]


def answer_in_context(table: ScoreTable, rule: Rule, cap: int | None) -> float:
    """Share of answer-set questions whose fact is in one of the 5 chunks the LLM gets."""
    found = 0
    for row, question in enumerate(table.questions):
        facts = [question["fact"].lower(), *(a.lower() for a in question["alternatives"])]
        top = ranked_chunks(table, row, rule, cap)[:K_RECALL]
        found += any(fact in table.texts[i] for i in top for fact in facts)
    return found / max(len(table.questions), 1)


@dataclass(frozen=True)
class Figures:
    recall: float
    mrr: float
    two_page: float
    n: int


def per_question(table: ScoreTable, rule: Rule, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Each question's R@5 hit (0 or 1) and reciprocal rank (0 past rank 10)."""
    hits, reciprocal, _ = _scored(table, rule, cap)
    return hits, reciprocal


def measure(table: ScoreTable, rule: Rule, cap: int | None) -> Figures:
    hits, reciprocal, pair_hits = _scored(table, rule, cap)
    n = max(len(table.questions), 1)
    return Figures(
        float(hits.sum()) / n,
        float(reciprocal.sum()) / n,
        float(np.mean(pair_hits)) if pair_hits else float("nan"),
        n,
    )


def _scored(
    table: ScoreTable, rule: Rule, cap: int | None
) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Per question: R@5 hit, reciprocal rank; per two-page question: both pages in the 5."""
    hits = np.zeros(len(table.questions))
    reciprocal = np.zeros(len(table.questions))
    pair_hits: list[bool] = []
    for row, question in enumerate(table.questions):
        gold = gold_pages(question)
        pages = ranked_pages(table, row, rule, cap)
        hits[row] = bool(gold & set(pages[:K_RECALL]))
        rank = next((r for r, page in enumerate(pages, 1) if page in gold), None)
        reciprocal[row] = 1.0 / rank if rank else 0.0
        if len(gold) > 1:
            pair_hits.append(gold <= set(pages[:K_RECALL]))
    return hits, reciprocal, pair_hits


def paired_interval(
    a: np.ndarray, b: np.ndarray, rounds: int = 5000, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of mean(a - b) over questions resampled in pairs.

    It says whether a difference of one or two questions between two rules on ~100
    questions is a difference at all: an interval that holds 0 shows none this set can tell.
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not len(diff):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(rounds, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
