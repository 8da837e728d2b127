"""How focused passages are written into the prompt: their lines, headers, order and labels.

`chains.passages` chooses the passages (best first, within budget); this writes them as
the prompt shows them and says what that costs (`context_tokens`, which the budget
counts). What the model may copy from a line (its header) and what its `[n]` means
(`prompt_labels`) are decided here too, so the answer's citations can be read back
(`chains.llm.citations`).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from chains.ingest.headings import PATH_SEPARATOR

HEADER_TOKENS = 20  # a passage's "title › section" beyond this is shortened
DATED_JOINER = ", "  # between a header and its section's date line


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
        return shorten(parts[0], limit)
    middle = parts[1:-1]
    while middle and len(PATH_SEPARATOR.join([parts[0], "…", *middle, parts[-1]])) > limit:
        middle.pop(0)
    kept = [parts[0], "…", *middle, parts[-1]] if len(parts) > 2 else parts
    header = PATH_SEPARATOR.join(kept)
    if len(header) <= limit:
        return header
    gap = PATH_SEPARATOR.join(["", "…", ""]) if len(parts) > 2 else PATH_SEPARATOR
    room = limit - len(gap)
    last = shorten(parts[-1], max(room - len(parts[0]), room // 2))
    return shorten(parts[0], room - len(last)) + gap + last


def shorten(text: str, chars: int) -> str:
    """`text` within `chars` characters, ending in "…" when cut."""
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
