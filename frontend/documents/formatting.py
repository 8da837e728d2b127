"""How a listed document and a retrieved chunk read on the page: pure text, no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Metadata every chunk carries for the index's own use: shown elsewhere or not worth showing.
CHUNK_BOOKKEEPING = frozenset({"id", "source", "title", "score"})
# What Streamlit's markdown would read as formatting (`$` starts LaTeX) in a document's title.
MARKDOWN_SPECIALS = frozenset("\\`*_{}[]<>()#+-.!|~$")


def plural(count: int, word: str) -> str:
    """`1 chunk`, `24 chunks`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def escape_markdown(text: str) -> str:
    """A title shown as it is written: `__init__` stays `__init__`, `$5` is no formula."""
    return "".join(f"\\{char}" if char in MARKDOWN_SPECIALS else char for char in text)


def format_metadata(metadata: Mapping[str, Any] | None) -> str:
    """`team=docs · year=2024`: the way the upload form takes it."""
    return " · ".join(f"{key}={value}" for key, value in (metadata or {}).items())


def format_when(iso: str | None) -> str:
    """`2026-11-26 17:45 UTC` from the API's ISO time; the text as it is if it does not parse."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    zone = "UTC" if moment.utcoffset() is not None and not moment.utcoffset() else ""
    return f"{moment:%Y-%m-%d %H:%M} {zone}".strip()


def format_added(added_by: str | None, added_at: str | None) -> str:
    """`ada · 2026-11-26 17:45 UTC`; documents ingested by the CLI have no one to name."""
    return " · ".join(part for part in (added_by or "", format_when(added_at)) if part)


def chunk_score(chunk: Mapping[str, Any]) -> float | None:
    """`/retrieve` puts the score next to the text; older backends put it in the metadata."""
    for score in (chunk.get("score"), (chunk.get("metadata") or {}).get("score")):
        if isinstance(score, int | float) and not isinstance(score, bool):
            return float(score)
    return None


def chunk_heading(number: int, chunk: Mapping[str, Any]) -> str:
    """`[1] Title · source.md`, the way the chat's sources read."""
    metadata = chunk.get("metadata") or {}
    title = escape_markdown(str(metadata.get("title") or "").strip())
    source = str(metadata.get("source") or "").strip()
    parts = [part for part in (title, f"`{source}`" if source else "") if part]
    return f"[{number}] " + (" · ".join(parts) if parts else "untitled chunk")


def chunk_details(chunk: Mapping[str, Any]) -> str:
    """`score 0.781 · chunk=0 · team=docs`: the score, then the metadata not in the heading."""
    score = chunk_score(chunk)
    metadata = chunk.get("metadata") or {}
    rest = {key: value for key, value in metadata.items() if key not in CHUNK_BOOKKEEPING}
    parts = [f"score {score:.3f}" if score is not None else "", format_metadata(rest)]
    return " · ".join(part for part in parts if part)
