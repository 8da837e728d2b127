"""The fusion rules bench/retrieval_quality.py compares, as pure functions of the scores."""

from __future__ import annotations

import numpy as np

from bench.retrieval_scores import Rule
from chains.index import fusion


def dense_only(dense: np.ndarray, sparse: np.ndarray, text: str) -> np.ndarray:
    return dense


def sparse_only(dense: np.ndarray, sparse: np.ndarray, text: str) -> np.ndarray:
    return np.where(sparse > 0, sparse, -np.inf)


def convex(alpha: float) -> Rule:
    return lambda dense, sparse, text: alpha * dense + (1 - alpha) * sparse


def query_dependent(plain: float, code: float) -> Rule:
    """The rule `chains.index.fusion` ships: the weight depends on the question's words."""
    return lambda dense, sparse, text: fusion.fuse(
        dense, sparse, fusion.query_alpha(text, plain=plain, code=code)
    )


def minmax(alpha: float, depth: int = 50) -> Rule:
    """Per-query min-max over each side's top `depth` (two queries and a client-side merge)."""

    def rule(dense: np.ndarray, sparse: np.ndarray, text: str) -> np.ndarray:
        return alpha * _scaled(dense, depth) + (1 - alpha) * _scaled(sparse, depth)

    return rule


def _scaled(scores: np.ndarray, depth: int) -> np.ndarray:
    top = np.sort(scores)[-depth:]
    lo, hi = float(top[0]), float(top[-1])
    return np.clip((scores - lo) / (hi - lo), 0, None) if hi > lo else np.zeros_like(scores)


def rrf(k: int, depth: int = 50) -> Rule:
    """Reciprocal rank fusion over each side's top `depth`."""

    def rule(dense: np.ndarray, sparse: np.ndarray, text: str) -> np.ndarray:
        fused = np.zeros_like(dense, dtype=np.float64)
        for scores in (dense, sparse):
            order = np.argsort(-scores, kind="stable")[:depth]
            order = order[scores[order] > (0 if scores is sparse else -np.inf)]
            fused[order] += 1.0 / (k + np.arange(1, len(order) + 1))
        return fused

    return rule


def pinecone_rules(quick: bool) -> dict[str, Rule]:
    """Rules one Pinecone hybrid query computes (a convex combination): the ones we ship."""
    grid = [0.2, 0.5, 0.8] if quick else [round(a, 2) for a in np.arange(0.1, 1.0, 0.1)]
    rules: dict[str, Rule] = {f"convex α={a:g}": convex(a) for a in grid}
    rules |= {
        f"query α plain={p:g} code={c:g}": query_dependent(p, c)
        for p in grid
        for c in grid
        if c < p
    }
    return rules


def other_rules(quick: bool) -> dict[str, Rule]:
    """Rules that need two queries and a client-side merge on Pinecone: compared only."""
    grid = [0.5, 0.8] if quick else [round(a, 2) for a in np.arange(0.1, 1.0, 0.1)]
    rules: dict[str, Rule] = {f"min-max α={a:g}": minmax(a) for a in grid}
    return rules | {f"RRF k={k}": rrf(k) for k in ([60] if quick else [10, 30, 60])}
