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

Each passage names where it comes from (`passage_header`: its document's title and its
section's heading path): a release note's item rarely says which release it is in, its
heading does. Passages of one source and section share one line and one header
(`passage_lines`), and the budget counts the lines as the prompt writes them, so a
header is paid once per section, not once per passage.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from langchain_core.documents import Document

from chains.index import sparse
from chains.index.fusion import leans_on_words
from chains.index.sparse import version_numbers
from chains.ingest.headings import PATH_SEPARATOR

PASSAGE_CHARS = 300
HEADER_TOKENS = 20  # a passage's "title › section" beyond this is shortened
DATED_JOINER = ", "  # between a header and its section's date line
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


@dataclass(frozen=True)
class Passage:
    """Part of source `number` (numbered as the sources are: `[number]` cites it), with its
    document's title and section heading path."""

    number: int
    text: str
    title: str = ""
    section: str = ""
    dated: str = ""
    """The date line under its section's heading, if any ("Release date: 2026-02-12")."""


def approx_tokens(text: str) -> int:
    """LangChain's approximation (4 characters a token): no tokenizer per provider."""
    return math.ceil(len(text) / 4)


# A heading's own section number ("E.1. Release 15.20", "2.3. Changes"): the model gave it
# where a release was asked. Only numbers ending in a dot, so "7.13.2 — 2026-01-09" (a
# release, not a section number) keeps its version.
_SECTION_NUMBER = re.compile(r"^(?:[A-Z]\.)?(?:\d+\.)+\s+(?=\S)")


def without_section_number(heading: str) -> str:
    """`E.1.2. Changes` → `Changes`; a heading that is only a number stays as it is."""
    return _SECTION_NUMBER.sub("", heading)


def passage_header(passage: Passage, max_tokens: int = HEADER_TOKENS) -> str:
    """`<title> › <section>` within `max_tokens`; the title is never dropped. A date line
    under the section's heading follows (`<title> › <section>, Release date: …`) unless
    the text holds it, and is never cut: a release's items do not repeat its date.

    A long path loses its upper headings first ("Title › … › Bug fixes"): the deepest
    heading says most about the passage. If the title and that heading alone are still
    too long, both are cut, the deepest heading keeping at least half the room.
    """
    if passage.dated and passage.dated not in passage.text:
        dated = f"{DATED_JOINER}{passage.dated}"
        return passage_header(replace(passage, dated=""), max_tokens) + dated
    headings = [without_section_number(h) for h in passage.section.split(PATH_SEPARATOR) if h]
    parts = [passage.title, *headings] if passage.title else headings
    limit = 4 * max_tokens
    header = PATH_SEPARATOR.join(parts)
    if len(header) <= limit or not parts:
        return header
    if len(parts) == 1:
        return _cut(parts[0], limit)
    middle = parts[1:-1]
    while middle and len(PATH_SEPARATOR.join([parts[0], "…", *middle, parts[-1]])) > limit:
        middle.pop(0)
    kept = [parts[0], "…", *middle, parts[-1]] if len(parts) > 2 else parts
    header = PATH_SEPARATOR.join(kept)
    if len(header) <= limit:
        return header
    gap = PATH_SEPARATOR.join(["", "…", ""]) if len(parts) > 2 else PATH_SEPARATOR
    room = limit - len(gap)
    last = _cut(parts[-1], max(room - len(parts[0]), room // 2))
    return _cut(parts[0], room - len(last)) + gap + last


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)].rstrip() + "…"


GROUP_JOINER = " … "  # between passages of one source and section on one line


def passage_lines(passages: Sequence[Passage], escape: Callable[[str], str] = str) -> list[str]:
    """The prompt's lines for `passages` (best first), in the order the prompt shows them
    (`prompt_groups`: the best line last): `[n] <text> … <text> (from <title> ›
    <section>)`, `n` the line's label (`prompt_labels`).

    Passages of one source and section share a line, placed by their best passage, so
    the header is written (and read by the model) once: on the tune half of
    bench/data/answers.jsonl at CONTEXT_TOKENS=120 the labelled fact reached the prompt
    for 26 of 40 questions this way, 25 with a header per passage
    (`python -m bench.context_recall`).

    The header comes after the text it labels. Before it, Qwen2.5-Coder-1.5B read a
    release-note item with the next line's release: given the item that answers and two
    other releases' items (`python -m bench.reading_ceiling --set release_notes
    --distractors 2`, tune half) it named the right release for 12 of 17 questions with
    the header before the text (on the text's line or its own), 16 of 17 after it.
    """
    labels = prompt_labels(passages)
    lines = []
    for group in prompt_groups(passages):
        text = GROUP_JOINER.join(escape(p.text) for p in group)
        lines.append(f"[{labels[group[0].number]}] {text}{header_suffix(group[0], escape)}")
    return lines


def prompt_labels(passages: Sequence[Passage]) -> dict[int, int]:
    """Source number → the label its lines carry in the prompt: 1, 2, ... in the order
    the prompt shows them (`prompt_groups`: the best passage's line last).

    Labelled by source number, the best passage's line often read `[2]`, and
    Qwen2.5-Coder-1.5B cited the first line as `[1]` whatever its label: on the
    release-notes tune half, right answers cited `[1]` where the fact lay under `[2]`.
    The answer's labels are turned back into source numbers as it streams
    (`chains.llm.citations`), so the app's `[n]` still names the n-th source.
    """
    labels: dict[int, int] = {}
    for group in prompt_groups(passages):
        labels.setdefault(group[0].number, len(labels) + 1)
    return labels


def prompt_groups(passages: Sequence[Passage]) -> list[list[Passage]]:
    """`passages` (best first, as `focus` ranks them) as the prompt's lines show them: one
    group per source and section, its passages best first, the groups ordered by their
    best passage with the best last, next to the question.

    Qwen2.5-Coder-1.5B names the release of the header it read last: given an item and,
    after it, another release's item on the same words, it answered "Release 2.5.1 added
    Temporal API references" for the v4.2.0 item (release-notes tune half s22; also s21,
    r16). Tune halves, one run each (AMD EPYC, 2 cores), best last against best first:
    release notes right 0.927 against 0.854, citation validity 0.951 against 0.878;
    answers.jsonl at 250 tokens right 0.775 against 0.725.
    """
    groups: dict[tuple[int, str, str], list[Passage]] = {}
    for passage in passages:
        groups.setdefault((passage.number, passage.title, passage.section), []).append(passage)
    return list(reversed(groups.values()))


def shown_headers(passages: Sequence[Passage]) -> list[str]:
    """The headers the prompt shows for `passages`, plain and as the `<passages>` fence
    escapes them: what the model may copy into its answer (`chains.llm.citations`)."""
    plain = [passage_header(p) for p in passages]
    return list(dict.fromkeys([*plain, *map(fence_escape, plain)]))


def fence_escape(text: str) -> str:
    """`text` as the `<passages>` fence writes it: no passage can close the fence."""
    return html.escape(text, quote=False)


def header_suffix(passage: Passage, escape: Callable[[str], str] = str) -> str:
    """` (from <title> › <section>)`, or nothing for a passage with neither."""
    header = passage_header(passage)
    return f" (from {escape(header)})" if header else ""


def context_tokens(passages: Sequence[Passage]) -> int:
    """What `passages` cost in the prompt, headers included, as `passage_lines` writes them."""
    return sum(approx_tokens(line) for line in passage_lines(passages))


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
                piece = _cut(signature, LEAD_CHARS) + LEAD_JOINER + piece
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
