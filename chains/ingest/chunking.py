"""A document's chunks: cut per top-level section, each with the metadata ingest records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chains.index.chunks import Chunk
from chains.ingest.headings import (
    Section,
    date_under,
    heading_dates,
    section_path,
    spanned_path,
    top_level_groups,
)
from settings import Settings


def split_document(
    sections: Sequence[Section],
    *,
    source: str,
    title: str,
    settings: Settings,
    extra: dict[str, Any] | None = None,
) -> list[Chunk]:
    """Chunks of one document with their metadata.

    Each top-level section (a changelog's release, a manual page's h2) is cut on its own
    (`CHUNK_SIZE`/`CHUNK_OVERLAP` as before), so no chunk mixes two releases; within it
    chunks run across subsections as before, and a chunk's `section` is the path of the
    subsection it lies in, or the headings shared by those it spans: always true of
    every line of it.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, add_start_index=True
    )
    pieces: list[tuple[str, str, str]] = []
    dates = heading_dates(sections)
    for group in top_level_groups(sections):
        text = "\n\n".join(section.text for section in group)
        starts = np.cumsum([0] + [len(section.text) + 2 for section in group[:-1]]).tolist()
        for piece in splitter.create_documents([text]):
            start = int(piece.metadata["start_index"])
            path = spanned_path(group, starts, start, start + len(piece.page_content))
            pieces.append((piece.page_content, section_path(title, path), date_under(dates, path)))
    return [
        Chunk(
            piece,
            {
                "source": source,
                "title": title,
                **({"section": path} if path else {}),
                **({"heading_date": date} if date else {}),
                "chunk": i,
                **(extra or {}),
            },
        )
        for i, (piece, path, date) in enumerate(pieces)
    ]
