"""Per-user chat histories in one SQL database (SQLite or PostgreSQL), async, one per process.

Messages live in LangChain's `SQLChatMessageHistory` table and JSON format; users, sessions,
exchanges (idempotency) and feedback live beside them. Every write is one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from chains.history import queries as q
from chains.history.database import HistoryDatabase
from chains.history.models import (
    DEFAULT_SESSION_ID,
    MAX_ID_CHARS,
    MessageNotFound,
    SessionInfo,
    SessionNotFound,
    StoredMessage,
    make_title,
    validate_comment,
    validate_message_id,
    validate_session_id,
    validate_username,
)
from chains.history.tables import ChatSessionRow, MessageConverter, history_key
from chains.history.turns import (
    IN_REPLY_TO,
    Turn,
    answered_turns,
    conversation_order,
    question_id_for,
)

if TYPE_CHECKING:
    from settings import Settings


def _session_info(row: ChatSessionRow) -> SessionInfo:
    return SessionInfo(
        id=row.session_id,
        title=row.title or "",
        created=row.created,
        updated=row.updated,
        message_count=row.message_count,
    )


async def _owned_session(
    db: AsyncSession, username: str, session_id: str
) -> tuple[int, ChatSessionRow]:
    """The user's key and their session; SessionNotFound for another user's or none."""
    sid = validate_session_id(session_id)
    user_pk = await q.find_user(db, validate_username(username))
    chat = None if user_pk is None else await q.find_session(db, user_pk, sid)
    if user_pk is None or chat is None:
        raise SessionNotFound(f"no session {sid!r} for this user")
    return user_pk, chat


def _is_incomplete(message: BaseMessage) -> bool:
    return bool(message.response_metadata.get("incomplete"))


def history_window(messages: list[BaseMessage], max_tokens: int) -> list[BaseMessage]:
    """The newest messages within `max_tokens`, starting on a question: the window the
    model sees, whether the conversation was stored or sent by an OpenAI client."""
    return trim_messages(
        messages,
        max_tokens=max_tokens,
        strategy="last",
        token_counter=count_tokens_approximately,
        start_on="human",
        allow_partial=False,
    )


class HistoryStore:
    """Chat histories of all users; call `start()` once, share the instance, `close()` at exit.

    If the database is down, `start()` raises DatabaseUnavailable but the store stays usable:
    the schema is created by the first call that reaches the database.
    """

    def __init__(
        self,
        database_url: str,
        *,
        pool_size: int = 5,
        max_history_messages: int = 200,
        history_max_tokens: int = 1024,
    ) -> None:
        self._db = HistoryDatabase(database_url, pool_size=pool_size)
        self._max_messages = max_history_messages
        self._max_tokens = history_max_tokens
        self.converter = MessageConverter()

    @classmethod
    def from_settings(cls, settings: Settings) -> HistoryStore:
        return cls(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_history_messages=settings.max_history_messages,
            history_max_tokens=settings.history_max_tokens,
        )

    @property
    def engine(self) -> AsyncEngine:
        """The shared engine (for health checks and LangChain's SQLChatMessageHistory)."""
        return self._db.engine

    @property
    def database(self) -> HistoryDatabase:
        """Engine and transactions, for stores that share these tables (`ThreadRecords`)."""
        return self._db

    @property
    def max_messages(self) -> int:
        """How many of a session's newest messages any read returns (MAX_HISTORY_MESSAGES)."""
        return self._max_messages

    async def start(self) -> None:
        """Create the engine and any missing tables and indexes."""
        await self._db.start()

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        """Round-trip to the database (for /health); DatabaseUnavailable when it is down."""
        async with self._db.transaction() as db:
            await db.execute(select(1))

    async def get_user_chat_history(
        self, username: str, session_id: str | None = None, *, max_tokens: int | None = None
    ) -> list[BaseMessage]:
        """The newest messages that fit `max_tokens` (default from settings) for the prompt.

        At most `max_history_messages` rows are read; questions without an answer are left
        out, and the kept window starts on a human message so the model never sees an
        answer without its question.
        """
        name = validate_username(username)
        sid = validate_session_id(session_id or DEFAULT_SESSION_ID)
        async with self._db.transaction() as db:
            user_pk = await q.find_user(db, name)
            if user_pk is None:
                return []
            rows = await q.newest_messages(db, history_key(user_pk, sid), self._max_messages)
        messages = conversation_order([self.converter.from_sql_model(row) for row in rows])
        return history_window(
            answered_turns(messages), self._max_tokens if max_tokens is None else max_tokens
        )

    async def start_exchange(
        self,
        username: str,
        session_id: str | None,
        *,
        request_id: str | None,
        question: str,
        answer_message_id: str | None = None,
    ) -> Turn:
        """Store a turn's question as the turn starts; `finish_exchange` adds its answer.

        A request id seen before in this session stores nothing and returns the ids of
        that first attempt (`new` False): a client's retry never duplicates the question,
        and its answer is stored under the first attempt's answer id.
        """
        name = validate_username(username)
        sid = validate_session_id(session_id or DEFAULT_SESSION_ID)
        if request_id is not None:
            request_id = validate_message_id(request_id, "request id")
        answer_id = validate_message_id(answer_message_id or str(uuid4()), "answer message id")
        if len(question_id_for(answer_id)) > MAX_ID_CHARS:
            raise ValueError(f"answer message id is longer than {MAX_ID_CHARS - 2} characters")
        async with self._db.transaction() as db:
            chat = await q.upsert_session(db, await q.upsert_user(db, name), sid)
            if not await q.insert_exchange(db, chat.id, request_id, answer_id):
                assert request_id is not None  # only a repeated request id conflicts
                earlier = await q.exchange_answer_id(db, chat.id, request_id) or answer_id
                return Turn(earlier, question_id_for(earlier), new=False)
            human = HumanMessage(content=question, id=question_id_for(answer_id))
            await q.append_messages(db, self.converter, chat, [human], make_title(question) or None)
        return Turn(answer_id, question_id_for(answer_id), new=True)

    async def finish_exchange(
        self,
        username: str,
        session_id: str | None,
        *,
        answer_message_id: str,
        answer: str,
        incomplete: bool = False,
    ) -> bool:
        """Store the answer of a started turn; False when it has one already (a retry of a
        finished turn) or its session was deleted meanwhile.

        `incomplete` marks an answer whose stream failed or whose client left.
        """
        name = validate_username(username)
        sid = validate_session_id(session_id or DEFAULT_SESSION_ID)
        answer_id = validate_message_id(answer_message_id, "answer message id")
        metadata: dict[str, object] = {IN_REPLY_TO: question_id_for(answer_id)}
        if incomplete:
            metadata["incomplete"] = True
        ai = AIMessage(content=answer, id=answer_id, response_metadata=metadata)
        async with self._db.transaction() as db:
            user_pk = await q.find_user(db, name)
            chat = None if user_pk is None else await q.find_session(db, user_pk, sid)
            if chat is None:
                return False
            await q.lock_session(db, chat.id)
            if await q.has_message(db, chat.history_key, answer_id):
                return False
            await q.append_messages(db, self.converter, chat, [ai], None)
        return True

    async def record_exchange(
        self,
        username: str,
        session_id: str | None,
        *,
        request_id: str | None,
        question: str,
        answer: str,
        answer_message_id: str,
        incomplete: bool = False,
    ) -> bool:
        """A whole turn (tools, tests): `start_exchange`, then `finish_exchange`.

        True when this call stored the answer: False for a request id whose turn has its
        answer already; a turn cut off after its question is completed.
        """
        turn = await self.start_exchange(
            username,
            session_id,
            request_id=request_id,
            question=question,
            answer_message_id=answer_message_id,
        )
        return await self.finish_exchange(
            username,
            session_id,
            answer_message_id=turn.answer_message_id,
            answer=answer,
            incomplete=incomplete,
        )

    async def list_sessions(self, username: str, *, limit: int = 1000) -> list[SessionInfo]:
        """The user's sessions, most recently updated first."""
        name = validate_username(username)
        async with self._db.transaction() as db:
            user_pk = await q.find_user(db, name)
            rows = [] if user_pk is None else await q.list_sessions(db, user_pk, limit)
            return [_session_info(row) for row in rows]

    async def create_session(self, username: str, session_id: str | None = None) -> SessionInfo:
        """Create a session (random id if None); an existing one is returned unchanged."""
        name = validate_username(username)
        sid = validate_session_id(session_id if session_id is not None else str(uuid4()))
        async with self._db.transaction() as db:
            return _session_info(await q.upsert_session(db, await q.upsert_user(db, name), sid))

    async def get_messages(self, username: str, session_id: str) -> list[StoredMessage]:
        """The newest `max_history_messages` messages of a session with the user's feedback."""
        async with self._db.transaction() as db:
            user_pk, chat = await _owned_session(db, username, session_id)
            rows = await q.newest_messages(db, chat.history_key, self._max_messages)
            ids = [row.message_id for row in rows if row.message_id]
            feedback = await q.feedback_for(db, user_pk, ids)
        messages = []
        for row in rows:
            message = self.converter.from_sql_model(row)
            message.id = message.id or str(row.id)  # a row SQLChatMessageHistory wrote
            messages.append(message)
        stored = []
        for message in conversation_order(messages):
            mark = feedback.get(message.id or "")
            stored.append(
                StoredMessage(
                    id=message.id or "",
                    role=message.type,
                    content=str(message.text),
                    incomplete=_is_incomplete(message),
                    feedback_score=mark.score if mark else None,
                    feedback_comment=mark.comment if mark else None,
                )
            )
        return stored

    async def delete_session(self, username: str, session_id: str) -> None:
        """Delete a session with its messages, exchanges and the feedback on them."""
        async with self._db.transaction() as db:
            user_pk, chat = await _owned_session(db, username, session_id)
            await q.delete_sessions(db, user_pk, [chat.id])

    async def set_feedback(
        self, username: str, message_id: str, score: int, comment: str | None = None
    ) -> None:
        """Record (or replace) the user's -1/+1 verdict on a message in one of their sessions."""
        name = validate_username(username)
        message_id = validate_message_id(message_id)
        if isinstance(score, bool) or score not in (-1, 1):
            raise ValueError("feedback score must be -1 or 1")
        comment = validate_comment(comment)
        async with self._db.transaction() as db:
            user_pk = await q.find_user(db, name)
            if user_pk is None or not await q.owns_message(db, user_pk, message_id):
                raise MessageNotFound(f"no message {message_id!r} in this user's sessions")
            await q.upsert_feedback(db, user_pk, message_id, score, comment)
