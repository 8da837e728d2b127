"""Focused context: the passages of the retrieved chunks that answer the question.

Retrieval returns whole chunks (the sources a person sees); the prompt gets only their
best passages within a token budget. A small model loses the answer in a long context,
and prompt evaluation is most of the time to first token on a CPU.

A passage is a paragraph, or a run of sentences up to about `PASSAGE_CHARS`; a line
that is a signature (`heapq.heapreplace(heap, item)`, `.. function:: getstate()`) or a
heading stays with the paragraph after it, so a function's name travels with its
description. A description runs on over several paragraphs and passages: each later one
opens with the signature it describes (`heapq.merge(*iterables, …) … Similar to sorted(…)`),
cut to `LEAD_CHARS`, so the name reaches the prompt whichever passage wins. Passages are
scored by the question's embedding similarity and by BM25 over the passages at hand,
leaning on the words where retrieval does (`fusion.leans_on_words`).

Each passage names where it comes from (its document's title and its section's heading
path): a release note's item rarely says which release it is in, its heading does. How
the chosen passages are written into the prompt, and what that costs against the budget,
is `chains.prompt_lines`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from langchain_core.documents import Document

from chains.index import sparse
from chains.index.fusion import leans_on_words
from chains.index.sparse import version_numbers
from chains.prompt_lines import (
    Passage,
    context_tokens,
    header_suffix,
    passage_header,
    shorten,
)

PASSAGE_CHARS = 300
DENSE_WEIGHT = 0.7  # chosen on the tune half of bench/data/answers.jsonl
# For a question that exact words decide (`fusion.leans_on_words`), as retrieval does. Tune
# halves, fact in the prompt at CONTEXT_TOKENS=100 (`python -m bench.context_recall`):
# release notes 14 → 16 of 17 (the passage naming "4.4.0" had lost to a similar release's
# on meaning), answers.jsonl 25 → 24 of 40 (28 of 40 either way at 160 tokens).
EXACT_DENSE_WEIGHT = 0.5
SHORT_PARAGRAPH = 40  # shorter paragraphs (headings, "Note") join the next one
LEAD_CHARS = 80  # the signature a later passage of its description opens with, at most
LEAD_JOINER = " … "
# How passages are cut, recorded with the passage vectors ingest stores
# (`chains.index.passage_vectors`): change it whenever `split_passages` cuts otherwise, so
# vectors of the old cut are not used.
PASSAGES_FORMAT = f"paragraphs-{PASSAGE_CHARS}-signature-lead-{LEAD_CHARS}"

_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+(?=[A-Z`\"'(\[*])")
_RST_DIRECTIVE = r"\.\. (?:function|method|class|exception|data|attribute|decorator)::\s*"
_SIGNATURE = re.compile(
    rf"^(?:{_RST_DIRECTIVE})?(?:class |exception )?[\w.]+\(.*\)\s*¶?$"
    rf"|^(?:{_RST_DIRECTIVE}|(?:class|exception) )[\w.]+¶?$"
)

EmbedTexts = Callable[[list[str]], np.ndarray]


def _paragraphs(text: str) -> list[tuple[str, str]]:
    """Blank-line separated blocks, lines joined; signatures and headings join the next.

    Each comes with the signature it describes: the last one seen in the text ("" before
    the first), which its later passages open with.
    """
    out: list[tuple[str, str]] = []
    pending: list[str] = []
    signature = ""
    for block in re.split(r"\n\s*\n", text):
        lines = [" ".join(line.split()) for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        joined = " ".join(lines)
        if _SIGNATURE.match(lines[0]):
            signature = lines[0] if len(lines) > 1 else joined
        if _SIGNATURE.match(joined) or len(joined) < SHORT_PARAGRAPH:
            pending.append(joined)
            continue
        out.append((signature, " ".join([*pending, joined])))
        pending = []
    if pending:
        out.append((signature, " ".join(pending)))
    return out


def split_passages(number: int, text: str, max_chars: int = PASSAGE_CHARS) -> list[Passage]:
    """A chunk's passages: paragraphs, long ones cut into runs of whole sentences; a passage
    of a description that does not hold its signature opens with it (`LEAD_CHARS`)."""
    passages = []
    for signature, paragraph in _paragraphs(text):
        pieces: list[str] = []
        current = ""
        for sentence in _SENTENCE_END.split(paragraph):
            if current and len(current) + len(sentence) > max_chars:
                pieces.append(current)
                current = ""
            current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
        for piece in pieces:
            if signature and signature not in piece:
                piece = shorten(signature, LEAD_CHARS) + LEAD_JOINER + piece
            passages.append(piece)
    # A sentence longer than twice the limit (a table flattened to one line) is cut.
    return [Passage(number, p[: 2 * max_chars]) for p in passages]


def passage_texts(text: str) -> list[str]:
    """The texts of a chunk's passages, as `focus` cuts them (what ingest embeds)."""
    return [p.text for p in split_passages(0, text)]


def idf_overlap(question: str, texts: Sequence[str]) -> np.ndarray:
    """The summed idf (over these texts only) of the words each text shares with `question`."""
    tokens = sparse.tokenize(list(texts))
    wanted = set(sparse.tokenize([question])[0])
    doc_freq: dict[str, int] = {}
    for doc in tokens:
        for token in set(doc) & wanted:
            doc_freq[token] = doc_freq.get(token, 0) + 1
    idf = {t: float(sparse.idf(np.array([n]), len(tokens))[0]) for t, n in doc_freq.items()}
    return np.array([sum(idf[t] for t in set(doc) & wanted) for doc in tokens])


def lexical_scores(question: str, texts: Sequence[str]) -> np.ndarray:
    """`idf_overlap` scaled to [0, 1]."""
    scores = idf_overlap(question, texts)
    return scores / scores.max() if len(scores) and scores.max() > 0 else scores


def _unit_range(values: np.ndarray) -> np.ndarray:
    spread = values.max() - values.min() if len(values) else 0.0
    return (values - values.min()) / spread if spread > 0 else np.zeros_like(values)


def score_passages(
    question: str,
    passages: Sequence[Passage],
    embed_question: Callable[[str], np.ndarray],
    embed_texts: EmbedTexts,
    dense_weight: float = DENSE_WEIGHT,
) -> np.ndarray:
    """Each passage's relevance: dense similarity and lexical overlap, each scaled to [0, 1]."""
    if not passages:
        return np.zeros(0)
    texts = [p.text for p in passages]
    dense = np.asarray(embed_texts(texts), dtype=np.float32) @ np.asarray(
        embed_question(question), dtype=np.float32
    )
    return dense_weight * _unit_range(dense) + (1 - dense_weight) * lexical_scores(question, texts)


def within_budget(ranked: Sequence[Passage], budget_tokens: int) -> list[Passage]:
    """The best passages, in rank order, that fit `budget_tokens` with their headers (at
    least one, cut to fit). A passage whose line is already open costs only its text."""
    chosen: list[Passage] = []
    for passage in ranked:
        if context_tokens([*chosen, passage]) <= budget_tokens:
            chosen.append(passage)
    if not chosen and ranked:
        best = ranked[0]
        frame = len(f"[{best.number}] ") + len(header_suffix(best))
        chosen = [replace(best, text=best.text[: max(4 * budget_tokens - frame, 40)])]
    return chosen


def focus(
    question: str,
    documents: Sequence[Document],
    budget_tokens: int,
    embed_question: Callable[[str], np.ndarray],
    embed_texts: EmbedTexts,
) -> list[Passage]:
    """The passages of `documents` that best answer `question`, best first, within budget."""
    passages = [
        replace(
            passage,
            title=_text(doc, "title"),
            section=_text(doc, "section"),
            dated=_text(doc, "heading_date"),
        )
        for number, doc in enumerate(documents, start=1)
        for passage in split_passages(number, doc.page_content)
    ]
    if context_tokens(passages) <= budget_tokens:  # everything fits: keep the sources' own order
        return passages
    weight = EXACT_DENSE_WEIGHT if leans_on_words(question) else DENSE_WEIGHT
    scores = score_passages(question, passages, embed_question, embed_texts, weight)
    ranked = [passages[i] for i in np.argsort(-scores, kind="stable")]
    return within_budget(named_release_first(question, ranked), budget_tokens)


def named_release_first(question: str, ranked: Sequence[Passage]) -> list[Passage]:
    """`ranked` with the passages under a release the question names moved to the front
    (each group keeping its order).

    A question that names a version asks about that release, and what it asks (its date,
    its headings) is often only in the heading: "When was date-fns v4.3.0 released?"
    shares no word with v4.3.0's items, and v4.2.0's opening paragraph, closer in meaning,
    took the prompt's only place (release-notes tune half, s19 and r17). Retrieval already
    matches the version to the heading (`sparse.tokenize`); this keeps what it found.
    """
    named = set(version_numbers(question))
    if not named:
        return list(ranked)
    under_named = [not named.isdisjoint(version_numbers(f"{p.title} {p.section}")) for p in ranked]
    return [p for p, hit in zip(ranked, under_named, strict=True) if hit] + [
        p for p, hit in zip(ranked, under_named, strict=True) if not hit
    ]


def _text(document: Document, key: str) -> str:
    value = document.metadata.get(key)
    return value if isinstance(value, str) else ""


_CITATION = re.compile(r"\[(\d+)\]")


def cites_a_source(answer: str, sources: int) -> bool:
    """Whether the answer cites `[n]` for some n among the sources."""
    return any(1 <= int(n) <= sources for n in _CITATION.findall(answer))


def supporting_passage(answer: str, passages: Sequence[Passage]) -> Passage | None:
    """The passage the answer draws on: the one sharing the most idf-weighted words with it.

    None unless it shares a word with the answer that at most half of the passages hold
    (the words every passage has, like the topic, say nothing about which one was used).
    A passage's header counts as its words: "Release 12.23.0 did that." draws on the
    passage under 12.23.0, though no item names its release.
    """
    if not passages or not answer.strip():
        return None
    texts = [f"{p.text} {passage_header(p)}" for p in passages]
    best = int(np.argmax(idf_overlap(answer, texts)))
    tokens = [set(doc) for doc in sparse.tokenize(texts)]
    wanted = set(sparse.tokenize([answer])[0])
    rare = {t for t in wanted if sum(t in doc for doc in tokens) <= max(1, len(tokens) // 2)}
    return passages[best] if tokens[best] & rare else None
