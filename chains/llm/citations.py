"""Answers that cite `[n]` only: a passage's header copied as a citation is cut as it streams.

Each passage in a RAG prompt ends with where it comes from, `(from <title> › <section>)`,
and Qwen2.5-Coder-1.5B sometimes copies that into its answer as if it were the citation:
`… like node's own --env-file [from pnpm › 12.17.0]`, or a bare `[12.20.0]` before the
`[1]` it was asked for (3 of 41 answers on the release-notes tune half). The app links
`[n]` to the sources; the copy is noise that reads like a broken link. The prompt already
shows only `[n]` as a citation, so the copies are cut from the stream, before anyone
sees them (the browser, history, `/v1`, Agent Protocol clients all read this stream).
An answer left citing nothing gets its `[n]` from `graph.nodes` afterwards, as before.

The prompt labels its lines 1, 2, ... in the order it shows them (`chains.prompt_lines.
prompt_labels`); the labels the answer cites become the sources' own numbers here too, as
the text is shown. Only a run of citations not glued to a word is renumbered (`[1]`,
`[1, 2]`, `[1][3]`), never an index such as `a[1]` or `x[0][1]`.

Only what cannot be anything but a copied header goes: a bracket opening with `from `,
one holding the heading separator `›`, a bracket that is only a release number with two
dots (`[12.20.0]`), `(from … › …)`, and `(from <header>)` for a header the prompt showed
(a title without sections has no `›`: `(from base64 — Base16, … — Python 3.11.2
document…)` was copied whole into 1 of 40 answers.jsonl tune answers). Code such as
`a[i]`, `list[int]` or `(from x)` stays.

A citation is also checked as it is shown, against the sources' texts: when another source
states more of the names its claim gives than the cited one, it names that source
(`chains.llm.citation_terms`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from chains.llm.citation_terms import source_to_cite
from chains.llm.from_stream import GeneratesFromStream

HELD_CHARS = 160  # an opened bracket longer than this is text, not a copied header
_COPIED = re.compile(
    r"[ \t]*(?:\[(?:from\s[^\]\n]*|[^\]\n]*›[^\]\n]*|v?\d+\.\d+\.\d+[^\]\n]{0,30})\]\]?"
    r"|\(from\s[^)\n]*›[^)\n]*\))",
    re.IGNORECASE,
)
_COPIED_START = re.compile(r"^[ \t]*(?:\[(?:from\s|[^\]\n]*›|v?\d+\.\d+\.\d+)|\(from\s[^)\n]*›)")
_CLOSERS = {"[": "]", "(": ")"}
_CITATIONS = re.compile(r"(?<![\w\])])((?:\[\d+(?:\s*,\s*\d+)*\])+)")
_NUMBER = re.compile(r"\d+")


_BRACKET = re.compile(r"\[[^\]]*\]")
TAIL_CHARS = 40  # what is kept of the text shown, to see whether a bracket continues a run
CLAIM_CHARS = 600  # what is kept of the text since the last citation: the claim it backs


def renumber(text: str, sources: Mapping[int, int], shown_before: str = "") -> str:
    """`text` with each cited prompt label replaced by its source number (`sources`:
    label → number); a label the prompt did not have stays as it is. `shown_before` is
    the text already shown just before `text` (only read, never changed)."""
    if not sources:
        return text
    joined, start = shown_before + text, len(shown_before)

    def source(number: re.Match[str]) -> str:
        return str(sources.get(int(number.group()), int(number.group())))

    out, done = [], start
    for run in _CITATIONS.finditer(joined):
        for bracket in _BRACKET.finditer(joined, run.start(), run.end()):
            if bracket.start() < start:
                continue  # shown already
            out.append(joined[done : bracket.start()])
            out.append(_NUMBER.sub(source, bracket.group()))
            done = bracket.end()
    out.append(joined[done:])
    return "".join(out)


class CitationFilter:
    """Feed an answer's text as it streams; get back what may be shown now.

    Text from an opening bracket that is not yet closed is held (with the spaces before
    it in the same text, which go too when the bracket turns out to be a copied header),
    at most `HELD_CHARS`; everything else passes at once.
    """

    def __init__(
        self,
        sources: Mapping[int, int] | None = None,
        headers: Sequence[str] = (),
        source_texts: Sequence[str] = (),
    ) -> None:
        """`sources`: prompt label → source number, for the citations shown; `headers`:
        the passage headers the prompt showed, as written there; `source_texts`: what a
        reader finds behind each source number, from 1 (none: citations are not checked)."""
        self._sources = dict(sources or {})
        self._copied = copied_pattern(headers)
        self._source_texts = list(source_texts)
        self._tail = ""  # the end of the text shown
        self._claim = ""  # the text shown since the last citation
        self._pending = ""
        self._shown_space = False  # the text shown so far ends with a space
        self._after_copy = False  # a copy after a shown space went: so do spaces after it
        self._copy_ended = False  # the text held ended with a copy that went

    def feed(self, text: str) -> str:
        self._pending = self._cut_copies(self._pending + text)
        cut = self._safe_end(self._pending)
        return self._show(cut)

    def flush(self) -> str:
        """The rest, at the end of the answer: a header cut off by the token limit goes."""
        rest = self._pending = self._cut_copies(self._pending)
        opener = _open_bracket(rest)
        if opener is not None and _COPIED_START.match(rest[opener:]):
            self._pending = rest[:opener]
        return self._show(len(self._pending))

    def _cut_copies(self, text: str) -> str:
        """`text` without copied headers. A copy that opens `text` came after a space
        already shown (a model's " " token before "[from"): the spaces after it go. A
        second `]` right after a copied bracket goes with it (`… 2026-11-11 [from … ›
        Version 7.17.3 — 2026-11-11]].`, release-notes test half), in the same text or
        as the next token."""
        if not text:
            return text
        if self._copy_ended and text.startswith("]"):
            text = text[1:]
        ends = [copy.end() for copy in self._copied.finditer(text)]
        self._copy_ended = bool(ends) and ends[-1] == len(text)
        if self._copied.match(text) is not None and self._shown_space:
            self._after_copy = True
        text = self._copied.sub("", text)
        if self._after_copy:
            text = text.lstrip(" \t")
            self._after_copy = not text
        return text

    def _show(self, cut: int) -> str:
        shown, self._pending = self._pending[:cut], self._pending[cut:]
        # Complete brackets only: the cut is never inside one (`_safe_end`). What was
        # shown before tells `a[1]` (an index) from ` [1]` or `[2][1]` (citations).
        shown = self._checked(renumber(shown, self._sources, self._tail))
        self._tail = (self._tail + shown)[-TAIL_CHARS:]
        if shown:
            self._shown_space = shown[-1] in " \t"
        return shown

    def _checked(self, shown: str) -> str:
        """`shown` (source numbers already) with each citation naming the source that
        states what its claim names (`source_to_cite`); the claim is the text since the
        citation before it."""
        joined, start = self._tail + shown, len(self._tail)
        out, done = [], 0
        for run in _CITATIONS.finditer(joined):
            if run.start() < start:
                continue  # shown already
            begin, end = run.start() - start, run.end() - start
            claim = self._claim + shown[done:begin]
            cited = [int(n) for n in _NUMBER.findall(run.group())]
            better = source_to_cite(claim, cited, self._source_texts)
            out += [shown[done:begin], f"[{better}]" if better else run.group()]
            done, self._claim = end, ""
        out.append(shown[done:])
        self._claim = (self._claim + shown[done:])[-CLAIM_CHARS:]
        return "".join(out)

    @staticmethod
    def _safe_end(text: str) -> int:
        """Where the text that cannot still become a copied header ends."""
        opener = _open_bracket(text)
        if opener is not None and len(text) - opener <= HELD_CHARS:
            return opener
        # Not a trailing space either: chunks stay tokens (`/v1` counts max_tokens in
        # chunks), and a model's token brings its own space (" [").
        return len(text)


def copied_pattern(headers: Sequence[str]) -> re.Pattern[str]:
    """`_COPIED`, and `(from <header>)` for each of `headers`."""
    known = sorted({h for h in headers if h}, key=len, reverse=True)
    if not known:
        return _COPIED
    shown = "|".join(re.escape(h) for h in known)
    return re.compile(rf"{_COPIED.pattern}|[ \t]*\(from\s(?:{shown})\)", re.IGNORECASE)


def _open_bracket(text: str) -> int | None:
    """The start (spaces before it included) of the first bracket not closed in `text`."""
    for index, char in enumerate(text):
        closer = _CLOSERS.get(char)
        if closer is not None and closer not in text[index:]:
            start = index
            while start > 0 and text[start - 1] in " \t":
                start -= 1
            return start
    return None


class CleanCitations(GeneratesFromStream, BaseChatModel):
    """`model`, its streamed answer passed through `CitationFilter`.

    It drives `model`'s own stream inside this run, so the tokens reach callbacks (and
    LangGraph's message stream) once, cleaned, and what `model` reports from the run's
    context (its place in the model queue) still reaches the caller.
    """

    model: BaseChatModel
    sources: dict[int, int] = {}
    """Prompt label → source number (`chains.prompt_lines.prompt_labels`, inverted)."""
    headers: list[str] = []
    """The passage headers the prompt showed (`chains.prompt_lines.passage_header`)."""
    source_texts: list[str] = []
    """What a reader finds behind each source number (`chains.llm.citation_terms.source_text`)."""

    @property
    def _llm_type(self) -> str:
        return f"clean-citations-{self.model._llm_type}"

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        cleaner = CitationFilter(self.sources, self.headers, self.source_texts)
        for chunk in self.model._stream(messages, stop=stop, **kwargs):
            cleaned = _with_text(chunk, cleaner.feed(chunk.text))
            if cleaned is not None:
                if run_manager:
                    run_manager.on_llm_new_token(cleaned.text, chunk=cleaned)
                yield cleaned
        tail = _tail(cleaner)
        if tail is not None:
            if run_manager:
                run_manager.on_llm_new_token(tail.text, chunk=tail)
            yield tail

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        cleaner = CitationFilter(self.sources, self.headers, self.source_texts)
        async for chunk in self.model._astream(messages, stop=stop, **kwargs):
            cleaned = _with_text(chunk, cleaner.feed(chunk.text))
            if cleaned is not None:
                if run_manager:
                    await run_manager.on_llm_new_token(cleaned.text, chunk=cleaned)
                yield cleaned
        tail = _tail(cleaner)
        if tail is not None:
            if run_manager:
                await run_manager.on_llm_new_token(tail.text, chunk=tail)
            yield tail


def _with_text(chunk: ChatGenerationChunk, text: str) -> ChatGenerationChunk | None:
    """`chunk` carrying `text`; None for a chunk left empty that carries nothing else."""
    message = chunk.message
    if not text and not chunk.generation_info and not getattr(message, "usage_metadata", None):
        return None
    return ChatGenerationChunk(
        message=message.model_copy(update={"content": text}),
        generation_info=chunk.generation_info,
    )


def _tail(cleaner: CitationFilter) -> ChatGenerationChunk | None:
    from langchain_core.messages import AIMessageChunk

    text = cleaner.flush()
    return ChatGenerationChunk(message=AIMessageChunk(content=text)) if text else None
