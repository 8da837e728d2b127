"""Statements of the history store, each run inside a transaction the caller owns.

Inserts that may race (a user's first request arriving twice) use the dialect's
`ON CONFLICT DO NOTHING`, so concurrent callers never fail on a unique constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chains.history.tables import (
    ChatSessionRow,
    ExchangeRow,
    FeedbackRow,
    MessageConverter,
    MessageRow,
    ThreadRow,
    UserRow,
    history_key,
    utcnow,
)


def _insert(db: AsyncSession, table: Any) -> Any:
    dialect = db.bind.dialect.name if db.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def find_user(db: AsyncSession, name: str) -> int | None:
    return await db.scalar(select(UserRow.id).where(UserRow.name == name))


async def upsert_user(db: AsyncSession, name: str) -> int:
    """The user's key; most calls find it, so the insert (a write) is only tried when missing."""
    found = await find_user(db, name)
    if found is not None:
        return found
    stmt = _insert(db, UserRow).values(name=name, created=utcnow())
    await db.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    user_pk = await find_user(db, name)
    assert user_pk is not None  # inserted above or by a transaction that committed first
    return user_pk


async def find_session(db: AsyncSession, user_pk: int, session_id: str) -> ChatSessionRow | None:
    return await db.scalar(
        select(ChatSessionRow).where(
            ChatSessionRow.user_id == user_pk, ChatSessionRow.session_id == session_id
        )
    )


async def upsert_session(db: AsyncSession, user_pk: int, session_id: str) -> ChatSessionRow:
    found = await find_session(db, user_pk, session_id)
    if found is not None:
        return found
    now = utcnow()
    stmt = _insert(db, ChatSessionRow).values(
        user_id=user_pk,
        session_id=session_id,
        history_key=history_key(user_pk, session_id),
        created=now,
        updated=now,
        message_count=0,
    )
    await db.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "session_id"]))
    row = await find_session(db, user_pk, session_id)
    assert row is not None
    return row


async def list_sessions(db: AsyncSession, user_pk: int, limit: int) -> Sequence[ChatSessionRow]:
    stmt = (
        select(ChatSessionRow)
        .where(ChatSessionRow.user_id == user_pk)
        .order_by(ChatSessionRow.updated.desc(), ChatSessionRow.id.desc())
        .limit(limit)
    )
    return (await db.scalars(stmt)).all()


async def insert_exchange(
    db: AsyncSession, chat_pk: int, request_id: str | None, answer_message_id: str
) -> bool:
    """Claim (session, request id); False when an earlier call already holds it."""
    stmt = (
        _insert(db, ExchangeRow)
        .values(
            chat_session_id=chat_pk,
            request_id=request_id,
            answer_message_id=answer_message_id,
            created=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["chat_session_id", "request_id"])
        .returning(ExchangeRow.id)
    )
    return (await db.execute(stmt)).first() is not None


async def exchange_answer_id(db: AsyncSession, chat_pk: int, request_id: str) -> str | None:
    """The answer id an earlier call of this request was given, if any."""
    return await db.scalar(
        select(ExchangeRow.answer_message_id).where(
            ExchangeRow.chat_session_id == chat_pk, ExchangeRow.request_id == request_id
        )
    )


async def lock_session(db: AsyncSession, chat_pk: int) -> None:
    """Take the session row's write lock until commit, so two finishers of one turn check
    for its answer one after the other.

    A no-op UPDATE rather than SELECT ... FOR UPDATE: SQLite has no FOR UPDATE, and its
    driver starts the transaction only at the first write, so a read alone locks nothing.
    """
    await db.execute(
        update(ChatSessionRow)
        .where(ChatSessionRow.id == chat_pk)
        .values(updated=ChatSessionRow.updated)
        .execution_options(synchronize_session=False)
    )


async def has_message(db: AsyncSession, key: str, message_id: str) -> bool:
    stmt = (
        select(MessageRow.id)
        .where(MessageRow.session_id == key, MessageRow.message_id == message_id)
        .limit(1)
    )
    return await db.scalar(stmt) is not None


async def append_messages(
    db: AsyncSession,
    converter: MessageConverter,
    chat: ChatSessionRow,
    messages: Sequence[BaseMessage],
    title: str | None,
) -> None:
    """Add messages in order and update the session's counters in the same transaction.

    The UPDATE comes first: on PostgreSQL it locks the session row, so concurrent turns of
    one session insert their messages one turn after the other, never interleaved.
    """
    await db.execute(
        update(ChatSessionRow)
        .where(ChatSessionRow.id == chat.id)
        .values(
            message_count=ChatSessionRow.message_count + len(messages),
            updated=utcnow(),
            title=func.coalesce(ChatSessionRow.title, title),
        )
        .execution_options(synchronize_session=False)
    )
    for message in messages:
        db.add(converter.to_sql_model(message, chat.history_key))
        await db.flush()  # one row at a time keeps ids in message order


async def newest_messages(db: AsyncSession, key: str, limit: int) -> list[MessageRow]:
    """The newest `limit` rows of a history, oldest first; never the whole table."""
    stmt = (
        select(MessageRow)
        .where(MessageRow.session_id == key)
        .order_by(MessageRow.id.desc())
        .limit(limit)
    )
    rows = list((await db.scalars(stmt)).all())
    rows.reverse()
    return rows


async def feedback_for(
    db: AsyncSession, user_pk: int, message_ids: Sequence[str]
) -> dict[str, FeedbackRow]:
    if not message_ids:
        return {}
    stmt = select(FeedbackRow).where(
        FeedbackRow.user_id == user_pk, FeedbackRow.message_id.in_(message_ids)
    )
    return {row.message_id: row for row in (await db.scalars(stmt)).all()}


async def owns_message(db: AsyncSession, user_pk: int, message_id: str) -> bool:
    stmt = (
        select(MessageRow.id)
        .join(ChatSessionRow, ChatSessionRow.history_key == MessageRow.session_id)
        .where(ChatSessionRow.user_id == user_pk, MessageRow.message_id == message_id)
        .limit(1)
    )
    return await db.scalar(stmt) is not None


async def upsert_feedback(
    db: AsyncSession, user_pk: int, message_id: str, score: int, comment: str | None
) -> None:
    values = {"score": score, "comment": comment, "updated": utcnow()}
    stmt = _insert(db, FeedbackRow).values(user_id=user_pk, message_id=message_id, **values)
    await db.execute(
        stmt.on_conflict_do_update(index_elements=["user_id", "message_id"], set_=values)
    )


async def _delete(db: AsyncSession, stmt: Any) -> None:
    # The rows are not needed in this session afterwards: skip ORM synchronisation.
    await db.execute(stmt.execution_options(synchronize_session=False))


async def delete_sessions(db: AsyncSession, user_pk: int, chat_pks: Sequence[int]) -> None:
    """Delete sessions with their messages, exchanges and the feedback on those messages."""
    keys = select(ChatSessionRow.history_key).where(ChatSessionRow.id.in_(chat_pks))
    in_sessions = select(MessageRow.message_id).where(MessageRow.session_id.in_(keys))
    await _delete(
        db,
        delete(FeedbackRow).where(
            FeedbackRow.user_id == user_pk, FeedbackRow.message_id.in_(in_sessions)
        ),
    )
    await _delete(db, delete(MessageRow).where(MessageRow.session_id.in_(keys)))
    await _delete(db, delete(ExchangeRow).where(ExchangeRow.chat_session_id.in_(chat_pks)))
    await _delete(db, delete(ThreadRow).where(ThreadRow.chat_session_id.in_(chat_pks)))
    await _delete(db, delete(ChatSessionRow).where(ChatSessionRow.id.in_(chat_pks)))
