"""Which source an answer's citation should name: the one that names what the answer names.

Qwen2.5-Coder-1.5B often gets the name right and the citation wrong. It answers from a
passage or from what it knows, then cites the first line, or the line it read last: "The
default random number generator uses the Mersenne Twister algorithm. [3]", where source 3
never says "Mersenne Twister" and source 4 does. A reader who follows `[3]` finds nothing
that backs the answer.

So a claim's citation is checked against the names the claim gives: code in backticks,
dotted, snake_case and camelCase identifiers, versions, and proper names of two or more
capitalised words. These are the terms a source must state verbatim to back the claim.
When another source states more of them than every cited one does, the citation names
that source instead. A claim that names nothing, or whose cited source states as many
names as any other, keeps the model's citation.

Replayed on the `answers.jsonl` tune half (40 answers of `/chat` at 250 tokens), this
re-pointed 4 citations, and the valid citations went from 31 to 33 with none lost. Word
overlap with the whole claim (`chains.passages.idf_overlap`) was tried first and lost 2 to
4 valid citations: a claim's common words match the wrong chunk as well as the right one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document

_BACKTICKED = re.compile(r"`([^`\n]{2,80})`")
_CALL_ARGUMENTS = re.compile(r"\(.*$")
_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w+(?:\.[A-Za-z_]\w*)+")
_SNAKE = re.compile(r"(?<![\w.])[A-Za-z]\w*_\w+")
_CAMEL = re.compile(r"(?<![\w.])(?:[A-Z][a-z0-9]+[A-Z]\w*|[a-z][a-z0-9]+[A-Z]\w*)")
_VERSION = re.compile(r"(?<![\w.])v?\d+\.\d+(?:\.\d+)*(?![\w])")
_PROPER = re.compile(r"(?<![\w.])[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")
# A capitalised word that opens a sentence is not part of a name ("The Sniffer").
_OPENERS = {"The", "A", "An", "This", "That", "These", "Those", "To", "In", "It", "You", "Use"}


def named_terms(claim: str) -> set[str]:
    """The names `claim` gives, each as a source would have to write it."""
    terms = set()
    for span in _BACKTICKED.findall(claim):
        name = _CALL_ARGUMENTS.sub("", span).strip()  # `f(x, y)`: a source may write f(a)
        if len(name) >= 2:
            terms.add(name)
    for pattern in (_DOTTED, _SNAKE, _CAMEL, _VERSION):
        terms.update(m.group().rstrip(".") for m in pattern.finditer(claim))
    for match in _PROPER.finditer(claim):
        words = match.group().split()
        while words and words[0] in _OPENERS:
            words.pop(0)
        if len(words) >= 2:
            terms.add(" ".join(words))
    return {t for t in terms if len(t) >= 2}


def source_to_cite(claim: str, cited: Sequence[int], sources: Sequence[str]) -> int | None:
    """The source (numbered from 1) to cite for `claim` instead of `cited`, or None to keep
    the citation: the first source that states more of the claim's names than any cited
    source does. `cited` may be empty (nothing cited yet) or name no source (`[7]` of 5):
    then the first source stating any of them. `sources` are the texts a reader finds
    behind each number (`source_text`)."""
    terms = named_terms(claim)
    if not terms or not sources:
        return None
    stated = [sum(term in text for term in terms) for text in sources]
    best = max(range(len(sources)), key=lambda i: (stated[i], -i))
    backed = max((stated[n - 1] for n in cited if 1 <= n <= len(sources)), default=0)
    return best + 1 if stated[best] > backed else None


def source_text(document: Document) -> str:
    """What a reader finds behind a source's number: its title, section and text."""
    title, section = document.metadata.get("title"), document.metadata.get("section")
    heading = " ".join(str(part) for part in (title, section) if part)
    return f"{heading}\n{document.page_content}" if heading else document.page_content
