"""Where each part of a document sits: its sections and their heading paths.

A document is cut into `Section`s at its headings (HTML `h1`…`h6`, Markdown `#` and
underlined headings, reST titles, a PDF's outline in `chains.ingest.pdf_outline`); each carries
the path of headings above it (`("Release 15.16", "Bug fixes")`), which ingest records on
every chunk, BM25 indexes and the prompt shows. A section's text keeps its heading line,
so a chunk still reads as the page does.

Written here rather than taken from langchain-text-splitters: `MarkdownHeaderTextSplitter`
strips every line and joins paragraphs with "  \\n", which loses the blank lines that
chunking and passages cut at (and the indentation of code and nested lists), and knows no
underlined headings; `HTMLHeaderTextSplitter` parses the page again with its own text
extraction, without the navigation and permalink clean-up `chains.ingest.loaders` does. Neither
exists for reST or PDF.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Put by chains.ingest.loaders in front of an HTML heading's text: MARK + "2" + "Title"
# is an h2 line.
HTML_MARK = "\ue000"  # private use: no text has it, and str.strip keeps it
PATH_SEPARATOR = " › "

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_RST_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}\s*$")
_RST_ROLE = re.compile(r":[\w.:+-]+:`([^`]*)`")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\[[^\]]*\]")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Section:
    """Part of a document under one heading path (empty before the first heading)."""

    headings: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Line:
    """One line of a document, or the lines of one heading, as `sections_of` reads them."""

    raw: str  # the line(s) as the document has them (an underlined heading is two)
    level: int | None = None  # a heading's level, 1 the highest; None for any other line
    heading: str = ""


def clean_heading(text: str) -> str:
    """A heading as a person reads it: no link targets, tags, roles, `¶` or emphasis."""
    text = _MD_LINK.sub(lambda m: m.group(1) or m.group(2) or "", text)
    text = _RST_ROLE.sub(r"\1", _TAG.sub("", text))
    text = text.replace("``", "").replace("**", "").replace("¶", "")
    return " ".join(text.split()).strip(" #")


def sections_of(lines: Iterable[Line]) -> list[Section]:
    """Group lines under the latest heading of each level; heading-only sections fold in.

    A heading followed at once by a deeper one ("## 12.3.0" then "### Bug fixes") makes
    no section of its own: its line goes in front of the next section, so no chunk is a
    bare heading.
    """
    stack: list[tuple[int, str]] = []
    sections: list[Section] = []
    current: list[str] = []
    carried = ""
    path: tuple[str, ...] = ()

    def flush(heading_only: bool) -> None:
        nonlocal carried
        text = "\n".join(current).strip()
        if heading_only:
            carried = f"{carried}\n\n{text}".strip()
        elif text:
            sections.append(Section(path, f"{carried}\n\n{text}".strip()))
            carried = ""

    body = False  # whether the current section has any line besides its heading
    for line in lines:
        if line.level is None:
            current.append(line.raw)
            body = body or bool(line.raw.strip())
            continue
        flush(heading_only=bool(current) and not body and bool(stack))
        while stack and stack[-1][0] >= line.level:
            stack.pop()
        stack.append((line.level, line.heading))
        path = tuple(text for _, text in stack if text)
        current, body = [line.raw], False
    flush(heading_only=False)
    if carried:
        sections.append(Section(path, carried))
    return sections


def marked_sections(text: str) -> list[Section]:
    """Sections of text whose heading lines start with `HTML_MARK` and their level digit."""
    lines = []
    for raw in text.splitlines():
        if raw.startswith(HTML_MARK) and raw[1:2].isdigit():
            heading = clean_heading(raw[2:])
            lines.append(Line(raw[2:].replace("¶", "").rstrip(), int(raw[1]), heading))
        else:
            lines.append(Line(raw))
    return sections_of(lines)


def markdown_sections(text: str) -> list[Section]:
    """Sections at ATX (`## Title`) and setext (underlined) headings, outside code fences."""
    raw = text.splitlines()
    lines: list[Line] = []
    fence = ""
    i = 0
    while i < len(raw):
        line = raw[i]
        opened = _FENCE.match(line)
        if opened and (not fence or opened.group(1)[0] == fence[0]):
            fence = "" if fence else opened.group(1)
        atx = None if fence else _ATX.match(line)
        following = raw[i + 1] if i + 1 < len(raw) else ""
        setext = None if fence or not line.strip() else _SETEXT.match(following)
        if atx:
            lines.append(Line(line, len(atx.group(1)), clean_heading(atx.group(2))))
        elif setext and not line.startswith(("    ", "\t")) and not _is_list_or_quote(line):
            level = 1 if setext.group(1)[0] == "=" else 2
            lines.append(Line(f"{line}\n{following}", level, clean_heading(line)))
            i += 1
        else:
            lines.append(Line(line))
        i += 1
    return sections_of(lines)


def _is_list_or_quote(line: str) -> bool:
    return bool(re.match(r"^\s*([-*+>]|\d+[.)])\s", line))


def rst_sections(text: str) -> list[Section]:
    """Sections at reST titles; levels follow the order adornment styles first appear in."""
    raw = text.splitlines()
    styles: list[tuple[str, bool]] = []
    lines: list[Line] = []
    i = 0
    while i < len(raw):
        over = bool(_RST_ADORNMENT.match(raw[i].rstrip()))
        title_at = i + 1 if over else i
        if title_at + 1 < len(raw):
            title, under = raw[title_at], raw[title_at + 1].rstrip()
            is_title = (
                title.strip()
                and not title[0].isspace()
                and not _RST_ADORNMENT.match(title.rstrip())
                and _RST_ADORNMENT.match(under)
                and (len(under) >= len(title.rstrip()) or over)
                and (not over or raw[i].rstrip()[0] == under[0])
            )
            if is_title:
                style = (under[0], over)
                if style not in styles:
                    styles.append(style)
                end = title_at + 2
                block = "\n".join(raw[i:end])
                lines.append(Line(block, styles.index(style) + 1, clean_heading(title)))
                i = end
                continue
        lines.append(Line(raw[i]))
        i += 1
    return sections_of(lines)


def top_level_groups(sections: Sequence[Section], depth: int = 2) -> list[list[Section]]:
    """Consecutive sections grouped under each heading of `depth` or higher.

    Depth 2 is a page's top-level sections under its title heading (a changelog's releases
    under "# Changelog", a manual page's h2 sections under its h1): chunking within a group
    keeps chunks as long as before, while no chunk mixes two releases.
    """
    groups: list[list[Section]] = []
    for section in sections:
        top = section.headings[:depth]
        if groups and groups[-1][0].headings[:depth] == top:
            groups[-1].append(section)
        else:
            groups.append([section])
    return groups


def spanned_path(
    group: Sequence[Section], starts: Sequence[int], start: int, end: int
) -> tuple[str, ...]:
    """The heading path true of text [start, end) of a group joined with blank lines.

    `starts` are the sections' offsets in the joined text; a chunk within one section gets
    that section's path, one across several the headings they share.
    """
    spanned = [
        section.headings
        for section, at in zip(group, starts, strict=True)
        if at < end and at + len(section.text) > start
    ] or [group[0].headings]
    path = spanned[0]
    for headings in spanned[1:]:
        path = _common_prefix(path, headings)
    return path


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...]:
    common = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    return tuple(common)


def section_path(title: str, headings: Sequence[str]) -> str:
    """The heading path below the title: leading headings the title already says are left out.

    A page titled "json — JSON encoder and decoder — Python 3.11 documentation" whose h1 is
    "json — JSON encoder and decoder" would otherwise name it twice in every passage.
    """
    folded = title.casefold()
    rest = list(headings)
    while rest and rest[0].casefold() in folded:
        rest.pop(0)
    return PATH_SEPARATOR.join(rest)


_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? "
    r"\d{1,2},? \d{4}\b|\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4}\b"
)
DATE_LINE_CHARS = 60  # a longer line under a heading is a paragraph, not its date


def heading_dates(sections: Sequence[Section]) -> dict[tuple[str, ...], str]:
    """The date line right under a heading ("Release date: 2026-02-12"), by heading path.

    A release's date is often the line under its title, while its items sit in
    subsections ("Changes") that never repeat it: ingest records it on every chunk of the
    release (`heading_date`), so a passage of any subsection can say when.
    """
    dates = {}
    for section in sections:
        for line in (line.strip() for line in section.text.splitlines()):
            cleaned = clean_heading(line.lstrip(HTML_MARK).lstrip("0123456789"))
            if not line or _RST_ADORNMENT.match(line) or cleaned in section.headings:
                continue  # the heading lines (its own, and any carried in front of it)
            if len(line) <= DATE_LINE_CHARS and _DATE.search(line):
                dates[section.headings] = line
            break
    return dates


def date_under(dates: dict[tuple[str, ...], str], path: Sequence[str]) -> str:
    """The date line of the deepest heading of `path` that has one, or ''."""
    for end in range(len(path), 0, -1):
        if tuple(path[:end]) in dates:
            return dates[tuple(path[:end])]
    return ""
