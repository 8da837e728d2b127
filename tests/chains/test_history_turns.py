"""A turn in two writes: the question when it starts, the answer when it ends (SQLite and
PostgreSQL through the `history_store` fixture), and the readers of a half-written turn."""

from __future__ import annotations

import asyncio

from langchain_core.messages import AIMessage, HumanMessage

from chains.history import HistoryStore
from chains.history.turns import answered_turns, conversation_order, question_id_for


async def test_the_question_is_stored_before_its_answer(history_store: HistoryStore) -> None:
    turn = await history_store.start_exchange(
        "ada", "s1", request_id="r1", question="What is an axolotl?"
    )
    assert turn.new and turn.question_message_id == question_id_for(turn.answer_message_id)

    stored = await history_store.get_messages("ada", "s1")
    assert [(m.role, m.content, m.id) for m in stored] == [
        ("human", "What is an axolotl?", turn.question_message_id)
    ]
    [info] = await history_store.list_sessions("ada")
    assert (info.title, info.message_count) == ("What is an axolotl?", 1)
    # The model is never shown a question without its answer.
    assert await history_store.get_user_chat_history("ada", "s1") == []

    assert await history_store.finish_exchange(
        "ada", "s1", answer_message_id=turn.answer_message_id, answer="A salamander."
    )
    prompt = await history_store.get_user_chat_history("ada", "s1")
    assert [(type(m), m.content) for m in prompt] == [
        (HumanMessage, "What is an axolotl?"),
        (AIMessage, "A salamander."),
    ]
    [info] = await history_store.list_sessions("ada")
    assert info.message_count == 2


async def test_a_retried_request_stores_its_question_and_answer_once(
    history_store: HistoryStore,
) -> None:
    first = await history_store.start_exchange("ada", "s1", request_id="r1", question="Q?")
    # The server died here. The client retries with the same request id, twice at once.
    retries = await asyncio.gather(
        *(history_store.start_exchange("ada", "s1", request_id="r1", question="Q?") for _ in "ab")
    )
    assert [t.new for t in retries] == [False, False]
    assert {t.answer_message_id for t in retries} == {first.answer_message_id}

    finished = await asyncio.gather(
        *(
            history_store.finish_exchange(
                "ada", "s1", answer_message_id=first.answer_message_id, answer=f"A {n}"
            )
            for n in range(3)
        )
    )
    assert sorted(finished) == [False, False, True]
    stored = await history_store.get_messages("ada", "s1")
    assert [m.role for m in stored] == ["human", "ai"]
    assert stored[1].id == first.answer_message_id and not stored[1].incomplete


async def test_an_answer_cut_off_is_marked_incomplete(history_store: HistoryStore) -> None:
    turn = await history_store.start_exchange("ada", None, request_id=None, question="Q?")
    await history_store.finish_exchange(
        "ada", None, answer_message_id=turn.answer_message_id, answer="Half an", incomplete=True
    )
    stored = await history_store.get_messages("ada", "default")
    assert [(m.content, m.incomplete) for m in stored] == [("Q?", False), ("Half an", True)]


async def test_overlapping_turns_read_back_question_then_answer(
    history_store: HistoryStore,
) -> None:
    one = await history_store.start_exchange("ada", "s1", request_id="r1", question="Q1")
    two = await history_store.start_exchange("ada", "s1", request_id="r2", question="Q2")
    # Rows go in as Q1 Q2 A2 A1; readers pair each answer with its question.
    await history_store.finish_exchange(
        "ada", "s1", answer_message_id=two.answer_message_id, answer="A2"
    )
    await history_store.finish_exchange(
        "ada", "s1", answer_message_id=one.answer_message_id, answer="A1"
    )
    stored = await history_store.get_messages("ada", "s1")
    assert [m.content for m in stored] == ["Q1", "A1", "Q2", "A2"]
    prompt = await history_store.get_user_chat_history("ada", "s1")
    assert [m.content for m in prompt] == ["Q1", "A1", "Q2", "A2"]


async def test_an_answer_for_a_deleted_session_is_dropped(history_store: HistoryStore) -> None:
    turn = await history_store.start_exchange("ada", "s1", request_id="r1", question="Q?")
    await history_store.delete_session("ada", "s1")
    assert not await history_store.finish_exchange(
        "ada", "s1", answer_message_id=turn.answer_message_id, answer="A"
    )
    assert await history_store.list_sessions("ada") == []


def test_answered_turns_leaves_out_questions_nobody_answered() -> None:
    messages = [
        HumanMessage("crashed", id="x:q"),
        HumanMessage("asked", id="y:q"),
        AIMessage("answered", id="y", response_metadata={"in_reply_to": "y:q"}),
        HumanMessage("in flight", id="z:q"),
    ]
    assert [m.content for m in answered_turns(conversation_order(messages))] == [
        "asked",
        "answered",
    ]


def test_an_answer_whose_question_is_older_than_the_window_is_left_out() -> None:
    messages = [
        AIMessage("answer to an older question", id="o", response_metadata={"in_reply_to": "o:q"}),
        AIMessage("written in one step, long ago", id="legacy"),
        HumanMessage("asked", id="y:q"),
        AIMessage("answered", id="y", response_metadata={"in_reply_to": "y:q"}),
    ]
    assert [m.content for m in conversation_order(messages)] == [
        "written in one step, long ago",
        "asked",
        "answered",
    ]
