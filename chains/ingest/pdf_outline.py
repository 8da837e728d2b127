"""A PDF's sections from its outline (bookmarks), for `chains.ingest.headings`' heading paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from chains.ingest.headings import Line, Section, clean_heading, sections_of


def pdf_sections(pages: Sequence[str], outline: Sequence[tuple[int, str, int]]) -> list[Section]:
    """Sections of a PDF's page texts from its outline: (depth, title, page index) in order.

    An outline entry starts where its title appears on its page (after the previous
    entry's start), or at the top of that page when the text does not show it.
    """
    lines: list[Line] = []
    by_page: dict[int, list[tuple[int, str]]] = {}
    for depth, title, page in outline:
        by_page.setdefault(page, []).append((depth, clean_heading(title)))
    for number, page_text in enumerate(pages):
        rest = page_text
        for depth, title in by_page.get(number, []):
            at = _find_words(rest, title)
            if at is None:
                lines.append(Line("", depth + 1, title))
                continue
            lines.append(Line(rest[:at].strip("\n")))
            rest = rest[at:]
            lines.append(Line("", depth + 1, title))
        lines += [Line(rest.strip("\n")), Line("")]  # pages apart by a blank line, as before
    return sections_of(lines)


def _find_words(text: str, title: str) -> int | None:
    """Where `title` starts in `text`, whitespace-insensitive (PDF text breaks lines)."""
    words = title.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(word) for word in words)
    match = re.search(pattern, text)
    return match.start() if match else None


def outline_entries(reader: Any) -> list[tuple[int, str, int]]:
    """A pypdf reader's outline as (depth, title, page index), in reading order."""
    entries: list[tuple[int, str, int]] = []

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # an entry pointing nowhere (broken or external) names no page
                continue
            if page is not None and page >= 0 and getattr(item, "title", None):
                entries.append((depth, str(item.title), page))

    try:
        walk(list(reader.outline), 0)
    except Exception:  # a malformed outline: the document still loads, without sections
        return []
    return sorted(entries, key=lambda entry: entry[2])  # stable: same page keeps its order
