"""Tables of the history store and the LangChain message converter that fills `message_store`.

`message_store` keeps SQLChatMessageHistory's columns and JSON format, so a plain
`SQLChatMessageHistory(session_id=key, connection=engine, custom_message_converter=...)`
reads what the store wrote. Two additions: an index on `session_id` (the library creates
none) and an indexed `message_id`, so feedback can find a message without parsing JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langchain_community.chat_message_histories.sql import DefaultMessageConverter
from langchain_core.messages import BaseMessage
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chains.history.models import MAX_ID_CHARS, MAX_NAME_CHARS, MAX_TITLE_CHARS

MESSAGE_TABLE = "message_store"  # SQLChatMessageHistory's default table name
_SCHEMA_LOCK_ID = 0x7261_6763  # PostgreSQL advisory lock: one create_all at a time


def utcnow() -> datetime:
    return datetime.now(UTC)


def history_key(user_pk: int, session_id: str) -> str:
    """The `message_store.session_id` of a user's session: owner and id in one key.

    Deriving it from the user's primary key means guessing another user's session id
    reaches nothing.
    """
    return f"u{user_pk}:{session_id}"


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_CHARS), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChatSessionRow(Base):
    __tablename__ = "chat_sessions"
    __table_args__ = (
        UniqueConstraint("user_id", "session_id"),
        Index("ix_chat_sessions_user_updated", "user_id", "updated"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    session_id: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))
    # Unique through (user_id, session_id). Not declared unique: a second unique index would
    # let concurrent `ON CONFLICT (user_id, session_id) DO NOTHING` inserts deadlock.
    history_key: Mapped[str] = mapped_column(String(2 * MAX_NAME_CHARS), index=True)
    title: Mapped[str | None] = mapped_column(String(MAX_TITLE_CHARS))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message_count: Mapped[int] = mapped_column(Integer, default=0)


class ThreadRow(Base):
    """What the Agent Protocol adds to a session to make it a thread: its metadata.

    A thread IS a session (owner, id, timestamps and messages are the session's); this row
    exists only for sessions a LangGraph client created or ran, and goes with its session.
    """

    __tablename__ = "agent_threads"

    chat_session_id: Mapped[int] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")


class MessageRow(Base):
    """SQLChatMessageHistory's message model, plus an indexed copy of the message id."""

    __tablename__ = MESSAGE_TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(Text, index=True)
    message: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(MAX_ID_CHARS), index=True)


class ExchangeRow(Base):
    """One question/answer turn; the unique request id makes client retries no-ops."""

    __tablename__ = "exchanges"
    __table_args__ = (UniqueConstraint("chat_session_id", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_session_id: Mapped[int] = mapped_column(ForeignKey("chat_sessions.id"))
    request_id: Mapped[str | None] = mapped_column(String(MAX_ID_CHARS))
    answer_message_id: Mapped[str] = mapped_column(String(MAX_ID_CHARS))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedbackRow(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("user_id", "message_id"),
        CheckConstraint("score IN (-1, 1)", name="ck_feedback_score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    message_id: Mapped[str] = mapped_column(String(MAX_ID_CHARS))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MessageConverter(DefaultMessageConverter):
    """LangChain's JSON (de)serialisation, writing into the shared `MessageRow` model.

    The default converter builds a fresh declarative base per instance; one shared model
    lets the messages live in the same metadata (and transactions) as the other tables.
    """

    def __init__(self) -> None:
        self.model_class = MessageRow

    def to_sql_model(self, message: BaseMessage, session_id: str) -> Any:
        row = super().to_sql_model(message, session_id)
        row.message_id = message.id
        return row


async def create_schema(conn: AsyncConnection) -> None:
    """Create missing tables and indexes; concurrent starts on PostgreSQL take turns."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_ID)))
    await conn.run_sync(Base.metadata.create_all)
