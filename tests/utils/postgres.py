"""PostgreSQL for tests: find the server at TEST_DATABASE_URL, make throwaway databases.

Tests that need PostgreSQL call `require_postgres()`: when nothing answers it fails with
the command that starts one, or skips when SKIP_POSTGRES=1 (never set in CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_HINT = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
    "point TEST_DATABASE_URL at another server, or set SKIP_POSTGRES=1 to skip these tests"
)


def postgres_test_url() -> str:
    """The SQLAlchemy URL of a database the tests may connect to and create databases from."""
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL


def libpq_conninfo(url: str) -> str:
    """`postgresql+psycopg://...` → `postgresql://...`, which psycopg.connect accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@lru_cache(maxsize=8)
def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at `url` cannot be used, or None when it answers."""
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def require_postgres() -> str:
    """The test server's URL; fails (or skips with SKIP_POSTGRES=1) when it does not answer."""
    url = postgres_test_url()
    problem = postgres_problem(url)
    if problem is None:
        return url
    where = make_url(url).render_as_string(hide_password=True)
    message = f"PostgreSQL at {where} is not answering ({problem}); {START_HINT}"
    if os.environ.get("SKIP_POSTGRES") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _admin(url: str) -> psycopg.Connection:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return psycopg.connect(libpq_conninfo(url), autocommit=True, connect_timeout=5)


def create_database(url: str, name: str) -> str:
    with _admin(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    with _admin(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def terminate_connections(url: str, name: str) -> int:
    """Kill every session on database `name`, as a server restart would; returns how many."""
    with _admin(url) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def fresh_database_name(prefix: str = "ragchat_test_") -> str:
    return f"{prefix}{uuid.uuid4().hex}"


@contextmanager
def temporary_database(prefix: str = "ragchat_test_") -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards; yields its URL."""
    base = require_postgres()
    name = fresh_database_name(prefix)
    url = create_database(base, name)
    try:
        yield url
    finally:
        drop_database(base, name)
