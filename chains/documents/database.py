"""The synchronous engine of the catalog and the job table, in the history database.

Jobs and the catalog live in `DATABASE_URL` (SQLite under DATA_DIR by default), so every
server replica and worker reads the same state. Workers are threads doing blocking work,
so this engine is synchronous; the history store keeps its own async engine.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url

from chains.history.database import (
    PG_CONNECT_TIMEOUT_SECONDS,
    SQLITE_BUSY_SECONDS,
    database_backend,
    prepare_sqlite_folder,
    sqlite_pragmas,
)

metadata = MetaData()

jobs = Table(
    "ingest_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source", String(255), nullable=False, index=True),
    Column("state", String(16), nullable=False, index=True),
    Column("owner", String(128), nullable=True),
    Column("file", Text, nullable=True),  # relative to DATA_DIR; None once the job ended
    Column("meta", JSON, nullable=False),
    Column("chunks_done", Integer, nullable=False, default=0),
    Column("chunks_total", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("worker", String(128), nullable=True),
    Column("lease_until", Float, nullable=True),  # epoch seconds
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("source", String(512), primary_key=True),
    Column("title", Text, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("added_by", String(128), nullable=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the zone: SQLite gives naive datetimes back, and they were UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def create_sync_engine(database_url: str) -> Engine:
    """Engine for `database_url` (sqlite or postgresql, psycopg 3) with the tables created."""
    url = make_url(database_url)
    backend = database_backend(url)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if backend == "sqlite":
        prepare_sqlite_folder(url)
        url = url.set(drivername="sqlite")
        options["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
        engine = create_engine(url, **options)
        event.listen(engine, "connect", sqlite_pragmas)
    else:
        url = url.set(drivername="postgresql+psycopg")
        options["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS}
        engine = create_engine(url, **options)
    with engine.begin() as conn:
        if backend == "postgresql":  # replicas starting together: one CREATE at a time
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_ID})")
        metadata.create_all(conn)
    return engine


_SCHEMA_LOCK_ID = 0x7261_6764
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def shared_engine(database_url: str) -> Engine:
    """One engine per URL and process: catalog, jobs and workers share its pool."""
    with _engines_lock:
        engine = _engines.get(database_url)
        if engine is None:
            engine = _engines[database_url] = create_sync_engine(database_url)
        return engine
