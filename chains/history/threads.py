"""Sessions seen as Agent Protocol threads: the same rows, plus each thread's metadata.

A LangGraph client's thread and a ragchat session are one thing: the thread id is the
session id, the thread's owner, timestamps and messages are the session's. So a
conversation begun in the chat app continues from `langgraph_sdk`, and the reverse.
The one thing a session lacks, the client's free-form metadata, lives in `agent_threads`,
written only for threads a LangGraph client created or ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import uuid4

from langchain_core.messages import BaseMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chains.history import queries as q
from chains.history.models import (
    SessionNotFound,
    ThreadExists,
    _as_utc,
    validate_session_id,
    validate_username,
)
from chains.history.store import HistoryStore
from chains.history.tables import ChatSessionRow, ThreadRow

# Sessions a search looks through: a person's own conversations, filtered in Python.
SEARCH_WINDOW = 1000


@dataclass(frozen=True)
class ThreadInfo:
    """One of a user's sessions, as a thread."""

    thread_id: str
    created: datetime
    updated: datetime
    metadata: dict[str, Any]
    message_count: int


def _info(chat: ChatSessionRow, metadata_json: str | None) -> ThreadInfo:
    return ThreadInfo(
        thread_id=chat.session_id,
        created=_as_utc(chat.created),
        updated=_as_utc(chat.updated),
        metadata=json.loads(metadata_json) if metadata_json else {},
        message_count=chat.message_count,
    )


async def _metadata_of(db: AsyncSession, chat_pk: int) -> str | None:
    return await db.scalar(
        select(ThreadRow.metadata_json).where(ThreadRow.chat_session_id == chat_pk)
    )


async def _owned(db: AsyncSession, username: str, thread_id: str) -> ChatSessionRow:
    """The user's session of that id; another user's counts as absent (404, never 403)."""
    user_pk = await q.find_user(db, validate_username(username))
    chat = None if user_pk is None else await q.find_session(db, user_pk, thread_id)
    if chat is None:
        raise SessionNotFound(f"no thread {thread_id!r} for this user")
    return chat


async def _merge_metadata(db: AsyncSession, chat_pk: int, extra: dict[str, Any]) -> str:
    current = await _metadata_of(db, chat_pk)
    merged = json.dumps({**(json.loads(current) if current else {}), **extra})
    if current is None:
        db.add(ThreadRow(chat_session_id=chat_pk, metadata_json=merged))
    else:
        row = await db.get(ThreadRow, chat_pk)
        assert row is not None
        row.metadata_json = merged
    return merged


class ThreadRecords:
    """Threads over a `HistoryStore`'s tables, in its transactions."""

    def __init__(self, store: HistoryStore) -> None:
        self._store = store

    async def create(
        self,
        username: str,
        thread_id: str | None,
        metadata: dict[str, Any],
        *,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> ThreadInfo:
        """A new session with `metadata`; an existing id raises ThreadExists or is returned."""
        name = validate_username(username)
        sid = validate_session_id(thread_id if thread_id is not None else str(uuid4()))
        async with self._store.database.transaction() as db:
            user_pk = await q.upsert_user(db, name)
            existing = await q.find_session(db, user_pk, sid)
            if existing is not None:
                if if_exists == "raise":
                    raise ThreadExists(f"thread {sid!r} already exists")
                return _info(existing, await _metadata_of(db, existing.id))
            chat = await q.upsert_session(db, user_pk, sid)
            return _info(chat, await _merge_metadata(db, chat.id, metadata))

    async def get(self, username: str, thread_id: str) -> ThreadInfo:
        """The user's thread; SessionNotFound when they have none of that id."""
        async with self._store.database.transaction() as db:
            chat = await _owned(db, username, validate_session_id(thread_id))
            return _info(chat, await _metadata_of(db, chat.id))

    async def add_metadata(self, username: str, thread_id: str, extra: dict[str, Any]) -> None:
        """Merge `extra` into the thread's metadata (a run notes its graph and assistant)."""
        async with self._store.database.transaction() as db:
            chat = await _owned(db, username, validate_session_id(thread_id))
            await _merge_metadata(db, chat.id, extra)

    async def search(
        self,
        username: str,
        *,
        metadata: dict[str, Any] | None = None,
        ids: list[str] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[ThreadInfo]:
        """The user's threads, most recently updated first, whose metadata holds `metadata`."""
        name = validate_username(username)
        wanted = metadata or {}
        async with self._store.database.transaction() as db:
            user_pk = await q.find_user(db, name)
            chats = [] if user_pk is None else await q.list_sessions(db, user_pk, SEARCH_WINDOW)
            found = []
            for chat in chats:
                if ids is not None and chat.session_id not in ids:
                    continue
                info = _info(chat, await _metadata_of(db, chat.id))
                if all(info.metadata.get(key) == value for key, value in wanted.items()):
                    found.append(info)
        return found[offset : offset + limit]

    async def messages(self, username: str, thread_id: str) -> list[BaseMessage]:
        """The thread's newest messages (at most MAX_HISTORY_MESSAGES), oldest first."""
        async with self._store.database.transaction() as db:
            chat = await _owned(db, username, validate_session_id(thread_id))
            rows = await q.newest_messages(db, chat.history_key, self._store.max_messages)
        return [self._store.converter.from_sql_model(row) for row in rows]

    async def delete(self, username: str, thread_id: str) -> None:
        """The session with its messages, feedback and metadata (as DELETE /sessions/{id})."""
        await self._store.delete_session(username, validate_session_id(thread_id))
