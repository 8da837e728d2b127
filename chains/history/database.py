"""The one async engine of the history store: driver choice, pooling, SQLite pragmas, errors.

Settings hold sync URLs (`sqlite:///...`, `postgresql://...`); the store needs their async
drivers. Connection failures become `DatabaseUnavailable` with the password hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from chains.history.models import DatabaseUnavailable
from chains.history.tables import create_schema

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
SQLITE_BUSY_SECONDS = 30.0  # writers queue behind each other instead of failing
PG_CONNECT_TIMEOUT_SECONDS = 10
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # pool exhausted for too long
    sa_exc.DisconnectionError,
    OSError,
)


def to_async_url(database_url: str) -> URL:
    """`sqlite:///x` → `sqlite+aiosqlite:///x`; any `postgres(ql)[+driver]://` → psycopg 3."""
    try:
        url = make_url(database_url)
    except sa_exc.ArgumentError as exc:
        raise ValueError("database URL is not a SQLAlchemy URL") from exc
    return url.set(drivername=_ASYNC_DRIVERS[database_backend(url)])


def database_backend(url: URL) -> str:
    """`sqlite` or `postgresql` (a `postgres://` URL too); ValueError for any other."""
    backend = "postgresql" if url.get_backend_name() == "postgres" else url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return backend


def sqlite_file(url: URL) -> Path | None:
    """The database file of a file-based SQLite URL, None for memory or PostgreSQL."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def prepare_sqlite_folder(url: URL) -> None:
    """Create the SQLite file's folder: the default lives under a data dir made on first use."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_history_engine(url: URL, pool_size: int) -> AsyncEngine:
    """A pooled engine that pings connections on checkout, so it survives database restarts."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        if sqlite_file(url) is not None:
            options |= {"pool_size": pool_size, "connect_args": {"timeout": SQLITE_BUSY_SECONDS}}
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    options |= {
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS},
    }
    return create_async_engine(url, **options)


def _without_password(text: str, url: URL) -> str:
    password = url.password
    if password:
        for form in {str(password), quote(str(password), safe=""), quote_plus(str(password))}:
            text = text.replace(form, "***")
    return text


def unavailable(exc: BaseException, url: URL) -> DatabaseUnavailable:
    """A DatabaseUnavailable naming the database and the driver's reason, never the password."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    reason = _without_password(lines[0][:300] if lines else "", url)
    where = url.render_as_string(hide_password=True)
    return DatabaseUnavailable(
        f"history database {where} is unavailable ({type(cause).__name__}: {reason})"
    )


@asynccontextmanager
async def database_errors(url: URL) -> AsyncIterator[None]:
    """Translate connection-level failures inside the block into DatabaseUnavailable."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise unavailable(exc, url) from exc
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise unavailable(exc, url) from exc
        raise


class HistoryDatabase:
    """Engine, schema and transactions of the history store.

    The schema is created by `start()` or, if the database was down then, by the first
    transaction that reaches it: a server started during an outage recovers on its own.
    """

    def __init__(self, database_url: str, *, pool_size: int = 5) -> None:
        self.url = to_async_url(database_url)
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("HistoryStore.start() has not been called")
        return self._engine

    async def start(self) -> None:
        if self._engine is None:
            self._engine = create_history_engine(self.url, self._pool_size)
            self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        await self._ensure_schema()

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = self._sessions = None
        self._schema_ready = False

    async def _ensure_schema(self) -> None:
        async with self._schema_lock:
            if self._schema_ready:
                return
            async with database_errors(self.url):
                await asyncio.to_thread(prepare_sqlite_folder, self.url)  # no blocking I/O
                async with self.engine.begin() as conn:
                    await create_schema(conn)
            self._schema_ready = True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One ORM session in one transaction: committed on exit, rolled back on error."""
        if self._sessions is None:
            raise RuntimeError("HistoryStore.start() has not been called")
        if not self._schema_ready:
            await self._ensure_schema()
        async with database_errors(self.url), self._sessions() as db, db.begin():
            yield db
