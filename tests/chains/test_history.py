"""HistoryStore against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_community.chat_message_histories import SQLChatMessageHistory
from langchain_core.messages import AIMessage, HumanMessage
from sqlalchemy import func, inspect, select

from chains.history import (
    DatabaseUnavailable,
    HistoryStore,
    MessageNotFound,
    SessionNotFound,
    validate_session_id,
    validate_username,
)
from chains.history.tables import (
    MESSAGE_TABLE,
    ExchangeRow,
    FeedbackRow,
    MessageRow,
    UserRow,
    history_key,
)
from tests.chains.conftest import MAX_HISTORY_MESSAGES
from tests.utils.postgres import (
    create_database,
    drop_database,
    fresh_database_name,
    require_postgres,
    terminate_connections,
    with_database,
)


async def record(store: HistoryStore, user: str, sid: str, n: int, **kwargs: Any) -> bool:
    return await store.record_exchange(
        user,
        sid,
        request_id=kwargs.pop("request_id", f"req-{n}"),
        question=kwargs.pop("question", f"question {n}"),
        answer=kwargs.pop("answer", f"answer {n}"),
        answer_message_id=kwargs.pop("answer_message_id", f"{user}-{sid}-a{n}"),
        **kwargs,
    )


async def count_rows(store: HistoryStore, model: Any, *where: Any) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model).where(*where)))


async def test_round_trip(history_store: HistoryStore) -> None:
    await record(
        history_store,
        "alice",
        "s1",
        1,
        question="What is RAG?",
        answer="Retrieval then generation.",
        answer_message_id="m2",
    )

    history = await history_store.get_user_chat_history("alice", "s1")

    assert [(type(m), m.content) for m in history] == [
        (HumanMessage, "What is RAG?"),
        (AIMessage, "Retrieval then generation."),
    ]
    assert history[0].id  # the question was given an id of its own
    assert history[1].id == "m2"
    [info] = await history_store.list_sessions("alice")
    assert (info.id, info.title, info.message_count) == ("s1", "What is RAG?", 2)


async def test_default_session_and_unknown_user(history_store: HistoryStore) -> None:
    await history_store.ping()
    await history_store.record_exchange(
        "alice", None, request_id=None, question="hi", answer="hello", answer_message_id="a1"
    )
    assert [m.content for m in await history_store.get_user_chat_history("alice", "default")] == [
        "hi",
        "hello",
    ]
    assert await history_store.get_user_chat_history("nobody") == []
    assert await history_store.list_sessions("nobody") == []


async def test_unusual_text_round_trips(history_store: HistoryStore) -> None:
    question = "nul\x00 tab\t surrogate\ud800 emoji 🙂 " + "x" * 200
    await record(history_store, "alice", "s1", 1, question=question, answer="ok\x00")

    history = await history_store.get_user_chat_history("alice", "s1")

    assert [m.content for m in history] == [question, "ok\x00"]
    [info] = await history_store.list_sessions("alice")
    assert info.title.startswith("nul tab surrogate emoji 🙂 xxx")
    assert len(info.title) <= 80 and info.title.endswith("…")


async def test_trimming_keeps_newest_and_starts_on_human(history_store: HistoryStore) -> None:
    for n in range(12):  # 24 messages, more than MAX_HISTORY_MESSAGES
        await record(history_store, "alice", "s1", n, question=f"question {n} " + "word " * 20)

    everything = await history_store.get_user_chat_history("alice", "s1", max_tokens=100_000)
    small = await history_store.get_user_chat_history("alice", "s1", max_tokens=120)
    nothing = await history_store.get_user_chat_history("alice", "s1", max_tokens=0)

    # Newest 15 rows start on an answer, which is dropped: 7 whole exchanges remain.
    assert len(everything) == MAX_HISTORY_MESSAGES - 1
    assert isinstance(everything[0], HumanMessage)
    assert everything[0].content.startswith("question 5 ")
    assert everything[-1].content == "answer 11"
    assert 0 < len(small) < len(everything)
    assert isinstance(small[0], HumanMessage)
    assert small == everything[-len(small) :]
    assert nothing == []


async def test_same_session_id_for_two_users_is_isolated(history_store: HistoryStore) -> None:
    await record(history_store, "alice", "shared", 1, question="alice's secret")
    await record(history_store, "bob", "shared", 1, question="bob's question")

    alice = await history_store.get_user_chat_history("alice", "shared")
    bob = await history_store.get_user_chat_history("bob", "shared")

    assert [m.content for m in alice] == ["alice's secret", "answer 1"]
    assert [m.content for m in bob] == ["bob's question", "answer 1"]
    assert [m.content for m in await history_store.get_messages("bob", "shared")][0] == (
        "bob's question"
    )
    await history_store.delete_session("bob", "shared")
    assert len(await history_store.get_user_chat_history("alice", "shared")) == 2


async def test_record_exchange_is_idempotent_per_request_id(history_store: HistoryStore) -> None:
    assert await record(history_store, "alice", "s1", 1, request_id="r1") is True
    assert await record(history_store, "alice", "s1", 1, request_id="r1") is False
    assert await record(history_store, "alice", "s1", 2, request_id="r2") is True
    # The same request id in another session is a different request.
    assert await record(history_store, "alice", "s2", 1, request_id="r1") is True
    # Without a request id nothing can be deduplicated: both are stored.
    assert await record(history_store, "alice", "s3", 1, request_id=None) is True
    assert await record(history_store, "alice", "s3", 2, request_id=None) is True

    counts = {s.id: s.message_count for s in await history_store.list_sessions("alice")}
    assert counts == {"s1": 4, "s2": 2, "s3": 4}
    assert len(await history_store.get_messages("alice", "s1")) == 4
    assert await count_rows(history_store, ExchangeRow) == 5


async def test_a_turn_cut_after_its_question_is_completed_by_its_retry(
    history_store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = history_store.converter.to_sql_model

    def fail_on_answer(message: Any, session_id: str) -> Any:
        if isinstance(message, AIMessage):
            raise RuntimeError("crash after the question was written")
        return real(message, session_id)

    monkeypatch.setattr(history_store.converter, "to_sql_model", fail_on_answer)
    with pytest.raises(RuntimeError, match="crash"):
        await record(history_store, "alice", "s1", 1, request_id="r1")

    # The question was written when the turn started; the failed answer left nothing.
    assert await count_rows(history_store, MessageRow) == 1
    assert await count_rows(history_store, ExchangeRow) == 1
    [info] = await history_store.list_sessions("alice")
    assert info.message_count == 1

    monkeypatch.undo()
    assert await record(history_store, "alice", "s1", 1, request_id="r1") is True  # retry works
    assert [m.role for m in await history_store.get_messages("alice", "s1")] == ["human", "ai"]
    assert await record(history_store, "alice", "s1", 1, request_id="r1") is False  # once
    assert await count_rows(history_store, MessageRow) == 2


async def test_incomplete_flag_is_persisted(history_store: HistoryStore) -> None:
    await record(history_store, "alice", "s1", 1, answer="partial", incomplete=True)
    await record(history_store, "alice", "s1", 2)

    stored = await history_store.get_messages("alice", "s1")
    history = await history_store.get_user_chat_history("alice", "s1")

    assert [(m.role, m.content, m.incomplete) for m in stored] == [
        ("human", "question 1", False),
        ("ai", "partial", True),
        ("human", "question 2", False),
        ("ai", "answer 2", False),
    ]
    assert stored[1].id == "alice-s1-a1"
    assert history[1].response_metadata.get("incomplete") is True
    assert not history[3].response_metadata.get("incomplete")


async def test_create_list_delete_sessions(history_store: HistoryStore) -> None:
    created = await history_store.create_session("alice")
    assert validate_session_id(created.id) == created.id and len(created.id) == 36
    again = await history_store.create_session("alice", created.id)
    assert (again.id, again.created) == (created.id, created.created)
    assert (created.title, created.message_count) == ("", 0)

    await record(history_store, "alice", "old", 1, question="first question of old")
    await record(history_store, "alice", "new", 1, question="first question of new")
    await record(history_store, "alice", "old", 2, question="second question of old")

    listed = await history_store.list_sessions("alice")
    assert [s.id for s in listed] == ["old", "new", created.id]
    assert listed[0].title == "first question of old"
    assert listed[0].updated.tzinfo is not None and listed[0].updated >= listed[1].updated

    await history_store.delete_session("alice", "old")
    assert [s.id for s in await history_store.list_sessions("alice")] == ["new", created.id]
    with pytest.raises(SessionNotFound):
        await history_store.get_messages("alice", "old")
    with pytest.raises(SessionNotFound):
        await history_store.delete_session("alice", "old")
    with pytest.raises(SessionNotFound):
        await history_store.delete_session("bob", "new")  # someone else's session is absent
    assert await history_store.get_user_chat_history("alice", "old") == []
    # Its exchanges went too: the same request id is new again.
    assert await record(history_store, "alice", "old", 1) is True


async def test_feedback(history_store: HistoryStore) -> None:
    await record(history_store, "alice", "s1", 1, answer_message_id="ans-1")
    await record(history_store, "bob", "s1", 1, answer_message_id="ans-bob")

    await history_store.set_feedback("alice", "ans-1", 1, "helpful")
    stored = {m.id: m for m in await history_store.get_messages("alice", "s1")}
    assert (stored["ans-1"].feedback_score, stored["ans-1"].feedback_comment) == (1, "helpful")

    await history_store.set_feedback("alice", "ans-1", -1)
    stored = {m.id: m for m in await history_store.get_messages("alice", "s1")}
    assert (stored["ans-1"].feedback_score, stored["ans-1"].feedback_comment) == (-1, None)
    assert await count_rows(history_store, FeedbackRow) == 1

    with pytest.raises(MessageNotFound):
        await history_store.set_feedback("alice", "ans-bob", 1)
    with pytest.raises(MessageNotFound):
        await history_store.set_feedback("mallory", "ans-1", 1)
    with pytest.raises(MessageNotFound):
        await history_store.set_feedback("alice", "no-such-id", 1)
    for bad in (0, 2, True):
        with pytest.raises(ValueError, match="-1 or 1"):
            await history_store.set_feedback("alice", "ans-1", bad)
    with pytest.raises(ValueError):
        await history_store.set_feedback("alice", "ans-1", 1, "nul\x00")
    assert [m.feedback_score for m in await history_store.get_messages("bob", "s1")] == [None] * 2


async def test_concurrent_exchanges_are_stored_once_and_in_order(
    history_store: HistoryStore,
) -> None:
    # 10 users × 2 sessions, 50 exchanges; each sent twice at once, as a retrying client would.
    plan = {(f"user{u}", f"s{s}"): 3 - s for u in range(10) for s in range(2)}
    assert sum(plan.values()) == 50

    async def converse(user: str, sid: str, turns: int) -> list[bool]:
        results = []
        for n in range(turns):
            pair = await asyncio.gather(
                record(history_store, user, sid, n), record(history_store, user, sid, n)
            )
            results.extend(pair)
        return results

    outcomes = await asyncio.gather(*(converse(u, s, t) for (u, s), t in plan.items()))

    assert sum(sum(o) for o in outcomes) == 50  # exactly one of each pair was stored
    for (user, sid), turns in plan.items():
        contents = [m.content for m in await history_store.get_messages(user, sid)]
        expected = [text for n in range(turns) for text in (f"question {n}", f"answer {n}")]
        assert contents == expected, (user, sid)
    assert await count_rows(history_store, MessageRow) == 100


async def test_concurrent_turns_of_one_session_read_back_as_pairs(
    history_store: HistoryStore,
) -> None:
    await asyncio.gather(*(record(history_store, "alice", "s1", n) for n in range(12)))

    # Questions and answers are written apart, so their rows may interleave; readers pair
    # them, and leave out answers whose question is older than the newest rows read.
    messages = await history_store.get_messages("alice", "s1")
    assert messages[0].role == "human"
    pairs = list(zip(messages[::2], messages[1::2], strict=True))
    assert pairs and all(q.content.replace("question", "answer") == a.content for q, a in pairs)
    [info] = await history_store.list_sessions("alice")
    assert info.message_count == 24


async def test_messages_are_readable_by_sql_chat_message_history(
    history_store: HistoryStore,
) -> None:
    await record(history_store, "alice", "s1", 1)
    async with history_store.engine.connect() as conn:
        user_pk = await conn.scalar(select(UserRow.id).where(UserRow.name == "alice"))

    history = SQLChatMessageHistory(
        session_id=history_key(user_pk, "s1"),
        connection=history_store.engine,
        custom_message_converter=history_store.converter,
    )

    assert [m.content for m in await history.aget_messages()] == ["question 1", "answer 1"]


async def test_schema_has_session_index(history_store: HistoryStore) -> None:
    async with history_store.engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes(MESSAGE_TABLE))
    assert ["session_id"] in [index["column_names"] for index in indexes]


async def test_history_survives_reopening_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'h.sqlite3'}"
    first = HistoryStore(url)
    await first.start()
    await record(first, "alice", "s1", 1)
    await first.close()

    second = HistoryStore(url)
    await second.start()
    try:
        assert [m.content for m in await second.get_user_chat_history("alice", "s1")] == [
            "question 1",
            "answer 1",
        ]
        assert await record(second, "alice", "s1", 1) is False  # idempotency survives too
    finally:
        await second.close()


async def test_closed_port_raises_database_unavailable_without_password() -> None:
    store = HistoryStore("postgresql://postgres:s3cret%2Fpw@127.0.0.1:1/ragchat")
    with pytest.raises(DatabaseUnavailable) as caught:
        await store.start()
    try:
        message = str(caught.value)
        assert "127.0.0.1:1" in message and "***" in message
        assert "s3cret" not in message and "%2F" not in message
        with pytest.raises(DatabaseUnavailable):
            await store.list_sessions("alice")
        with pytest.raises(DatabaseUnavailable):
            await store.ping()
    finally:
        await store.close()


async def test_sqlite_store_recovers_when_its_folder_appears(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    store = HistoryStore(f"sqlite:///{blocker / 'h.sqlite3'}")
    try:
        with pytest.raises(DatabaseUnavailable):
            await store.start()
        with pytest.raises(DatabaseUnavailable):
            await record(store, "alice", "s1", 1)
        blocker.unlink()
        assert await record(store, "alice", "s1", 1) is True
        assert len(await store.get_user_chat_history("alice", "s1")) == 2
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_store_recovers_when_its_database_appears() -> None:
    base = require_postgres()
    name = fresh_database_name()
    store = HistoryStore(with_database(base, name))
    try:
        with pytest.raises(DatabaseUnavailable, match=name):
            await store.start()
        create_database(base, name)
        assert await record(store, "alice", "s1", 1) is True
        assert len(await store.get_messages("alice", "s1")) == 2
    finally:
        await store.close()
        drop_database(base, name)


@pytest.mark.postgres
async def test_postgres_store_survives_dropped_connections() -> None:
    base = require_postgres()
    name = fresh_database_name()
    create_database(base, name)
    store = HistoryStore(with_database(base, name))
    try:
        await store.start()
        await asyncio.gather(*(record(store, "alice", f"s{n}", n) for n in range(3)))
        assert terminate_connections(base, name) >= 1  # what a server restart does to the pool

        assert len(await store.list_sessions("alice")) == 3
    finally:
        await store.close()
        drop_database(base, name)


@pytest.mark.parametrize(
    "bad",
    ["", " alice", "alice ", "a\x00b", "a\nb", "a\u202eb", "a\ud800", "x" * 65, 42, None],
)
def test_validate_username_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        validate_username(bad)


@pytest.mark.parametrize(
    "bad", ["", "has space", "slash/", "é", "x" * 65, "tab\t", "nul\x00", " lead", "trail "]
)
def test_validate_session_id_rejects(bad: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_session_id(bad)
    assert "session id" in str(caught.value)


def test_validators_accept_ordinary_values() -> None:
    assert validate_username("Zoë Müller-Smith") == "Zoë Müller-Smith"
    assert validate_session_id("chat.2024-01-01:a_b") == "chat.2024-01-01:a_b"
    assert validate_session_id("x" * 64) == "x" * 64


@given(st.text(max_size=80))
def test_validate_session_id_accepts_only_the_documented_alphabet(text: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
    try:
        assert validate_session_id(text) == text
    except ValueError:
        assert not text or len(text) > 64 or not set(text) <= allowed
    else:
        assert 1 <= len(text) <= 64 and set(text) <= allowed
