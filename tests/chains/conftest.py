"""History store fixtures: every test runs against SQLite and against PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chains.history import HistoryStore
from tests.utils.postgres import temporary_database

# Odd on purpose: the newest 15 of an even-length history start on an answer, which the
# store must trim away so the prompt history starts on a question.
MAX_HISTORY_MESSAGES = 15


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A sync URL as settings would give it; the folder of the SQLite file does not exist."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'history.sqlite3'}"
        return
    with temporary_database() as url:
        yield url


@pytest.fixture
async def history_store(database_url: str) -> AsyncIterator[HistoryStore]:
    store = HistoryStore(
        database_url,
        pool_size=5,
        max_history_messages=MAX_HISTORY_MESSAGES,
        history_max_tokens=4096,
    )
    await store.start()
    try:
        yield store
    finally:
        await store.close()
