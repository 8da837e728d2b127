"""The catalog: one row per document in the index, for `GET /documents` and the app.

Pinecone cannot list what it holds by source, and the embedded index would have to scan
every chunk, so ingest records each document here as it writes the index (the CLI and
upload jobs alike, through `chains.ingest.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from chains.documents.database import documents, iso, shared_engine, utcnow
from chains.index.filters import matches


@dataclass(frozen=True)
class DocumentEntry:
    source: str
    title: str
    chunks: int
    meta: dict[str, Any]
    added_by: str | None = None
    added_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "chunks": self.chunks,
            "metadata": self.meta,
            "added_by": self.added_by,
            "added_at": iso(self.added_at),
        }


class DocumentCatalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, database_url: str) -> DocumentCatalog:
        return cls(shared_engine(database_url))

    def record(self, entries: list[DocumentEntry], *, replace_all: bool = False) -> None:
        """Add or replace these documents; with `replace_all`, they become the whole list."""
        now = utcnow()
        with self.engine.begin() as conn:
            if replace_all:
                conn.execute(delete(documents))
            elif entries:
                sources = [e.source for e in entries]
                conn.execute(delete(documents).where(documents.c.source.in_(sources)))
            if entries:
                conn.execute(
                    insert(documents),
                    [
                        {
                            "source": e.source,
                            "title": e.title,
                            "chunks": e.chunks,
                            "meta": e.meta,
                            "added_by": e.added_by,
                            "added_at": e.added_at or now,
                        }
                        for e in entries
                    ],
                )

    def remove(self, source: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(delete(documents).where(documents.c.source == source)).rowcount > 0

    def get(self, source: str) -> DocumentEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(documents).where(documents.c.source == source)).first()
        return None if row is None else _entry(row)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(documents)).scalar_one())

    def page(
        self, *, offset: int, limit: int, filter: dict[str, Any] | None = None
    ) -> tuple[list[DocumentEntry], int]:
        """One page, newest first, of the documents whose metadata match `filter`.

        The filter language is the one `/retrieve` takes, applied to the document's
        metadata plus `source` and `title`; matching runs here, not in SQL, because the
        JSON operators differ between SQLite and PostgreSQL. Catalogs are small (one row
        per document, not per chunk).
        """
        query = select(documents).order_by(documents.c.added_at.desc(), documents.c.source)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        found = [_entry(r) for r in rows]
        if filter:
            found = [
                e
                for e in found
                if matches({**e.meta, "source": e.source, "title": e.title}, filter)
            ]
        return found[offset : offset + limit], len(found)


def _entry(row: Any) -> DocumentEntry:
    return DocumentEntry(
        source=row.source,
        title=row.title,
        chunks=row.chunks,
        meta=dict(row.meta or {}),
        added_by=row.added_by,
        added_at=row.added_at,
    )
