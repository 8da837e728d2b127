"""How dense and sparse scores become one ranking, the same on the local index and Pinecone.

The fused score stays a convex combination, `alpha * cosine + (1 - alpha) * bm25`, because
that is the one thing a Pinecone hybrid query computes server-side. What varies is alpha: a
question that names code (`os.path.join`, `mkdtemp()`, `max_size`, `--flag`) or a version
(`12.22.0`), or asks which release did something, leans on BM25, which matches identifiers
and a list item's exact words; a question in plain words leans on the embedding, which
matches meaning. Alpha is a function of the question's text alone, so the client computes
it before the query and Pinecone gets it like any other alpha.

A per-page cap (`MAX_CHUNKS_PER_SOURCE`) keeps one long page from filling the whole top-k.
docs/retrieval.md has the rules compared and what each measured.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

# A word that is code: a call `name(`, a dotted or underscored name (not "e.g."), camelCase
# or CapWords inside a word (JSONDecodeError), an option `--name`, anything in backticks,
# or a version number ("12.22.0", "v4.4", "15.16"; not a fraction "0.1"): an identifier
# too, which the embedding barely tells from its neighbours and BM25 matches exactly.
_CODE = re.compile(
    r"`[^`]+`"
    r"|(?<![\w.])(?:v\d+(?:\.\d+)+|[1-9]\d*(?:\.\d+)+)(?![\w]|\.\d)"
    r"|\b\w+\("
    r"|\b[A-Za-z_]\w+\.[A-Za-z_]\w*"
    r"|\b\w*_\w+"
    r"|\b[a-z]+[A-Z]\w*"
    r"|\b[A-Z][a-z]+[A-Z]\w*"
    r"|\b[A-Z]{2,}[a-z]+[A-Z]\w*"
    r"|(?<!\w)--?[a-z][\w-]*"
)


def names_code(text: str) -> bool:
    """Whether the question names an identifier, a call or an option."""
    return _CODE.search(text) is not None


# A question that asks which release or version did something, or when ("Which pnpm
# release removed …?", "Which coverage.py version …?", "Since which version …?", "When was
# … released?", "On what date did … come out?"): it looks for one item in a list of
# similar items (a changelog), which its exact words tell apart and the embedding does
# not. A product's name may hold dots or a plus (coverage.py, node.js, c++).
_ASKS_RELEASE = re.compile(
    r"\b(?:which|what)\s+(?:[\w.+-]+\s+){0,2}(?:release|version)s?\b"
    r"|\bsince which\b"
    r"|\b(?:released|published)\b"
    r"|\bwhen did\b"
    r"|\b(?:which|what)\s+(?:day|date)\b"
    r"|\bgive the (?:release|version)\b",
    re.IGNORECASE,
)


def asks_for_release(text: str) -> bool:
    """Whether the question asks which release or version did something, or when."""
    return _ASKS_RELEASE.search(text) is not None


def leans_on_words(text: str) -> bool:
    """Whether exact words decide this question: it names code or a version, or asks for
    a release."""
    return names_code(text) or asks_for_release(text)


def query_alpha(text: str, *, plain: float, code: float) -> float:
    """The dense weight for this question: `code` when exact words decide it, else `plain`."""
    return code if leans_on_words(text) else plain


def fuse(dense: np.ndarray, sparse: np.ndarray, alpha: float) -> np.ndarray:
    """`alpha * dense + (1 - alpha) * sparse` (both in [0, 1) for matching chunks)."""
    return alpha * dense + (1.0 - alpha) * sparse


def cap_per_source(
    order: Iterable[int], sources: Sequence[str] | np.ndarray, k: int, cap: int | None
) -> list[int]:
    """The first `k` rows of `order` with at most `cap` rows from any one source."""
    picked: list[int] = []
    seen: dict[str, int] = {}
    for row in order:
        source = str(sources[row])
        if cap is not None and seen.get(source, 0) >= cap:
            continue
        seen[source] = seen.get(source, 0) + 1
        picked.append(int(row))
        if len(picked) == k:
            break
    return picked
