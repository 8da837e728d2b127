"""The soak's bookkeeping without a server: reading a stream, hanging up, checking history."""

from __future__ import annotations

import json
from typing import Any

from bench.model_soak import (
    FULL,
    QUICK,
    Plan,
    Reading,
    leave_now,
    rows_for,
    shipped_limits,
    take_event,
)
from bench.soak_history import Exchange, check_history


def answered(question: str, message_id: str, session: str = "s0") -> Exchange:
    return Exchange("ann", session, question, "answered", 2.0, 1.0, message_id)


def left(question: str, at: str, session: str = "s0") -> Exchange:
    return Exchange("ann", session, question, "left", 1.0, None, None, at)  # type: ignore[arg-type]


def human(content: str) -> dict[str, Any]:
    return {"id": f"q-{content}", "role": "human", "content": content, "incomplete": False}


def ai(message_id: str, incomplete: bool = False) -> dict[str, Any]:
    return {"id": message_id, "role": "ai", "content": "...", "incomplete": incomplete}


def data(chunk: object) -> bytes:
    return b"event: data\ndata: " + json.dumps(chunk).encode()


# --- history -------------------------------------------------------------------------


def test_a_session_stored_as_asked_has_no_problem() -> None:
    asked = [answered("one", "a1"), left("two", "waiting"), answered("three", "a3")]
    stored = {
        ("ann", "s0"): [
            human("one"),
            ai("a1"),
            human("two"),
            ai("x", True),
            human("three"),
            ai("a3"),
        ]
    }

    check = check_history(asked, stored)

    assert check.problems == [] and check.stopped_marked == 1 and check.finished_first == 0


def test_a_lost_answer_and_a_lost_question_are_problems() -> None:
    asked = [answered("one", "a1"), answered("two", "a2")]

    assert check_history(asked, {("ann", "s0"): [human("one")]}).problems == [
        "ann/s0 #1 (answered): answer missing",
        "ann/s0 #2 (answered): question missing",
    ]


def test_an_answer_stored_twice_or_unasked_messages_are_problems() -> None:
    asked = [answered("one", "a1")]
    twice = {("ann", "s0"): [human("one"), ai("a1"), ai("a1-again")]}
    extra = {("ann", "s0"): [human("one"), ai("a1"), human("one"), ai("a2")]}

    assert check_history(asked, twice).problems == ["ann/s0 #1 (answered): answer stored twice"]
    assert check_history(asked, extra).problems == ["ann/s0: 2 message(s) nobody asked for"]


def test_a_finished_answer_needs_its_streamed_id_and_no_incomplete_mark() -> None:
    asked = [answered("one", "a1")]

    problems = check_history(asked, {("ann", "s0"): [human("one"), ai("zz", True)]}).problems

    assert problems == [
        "ann/s0 #1 (answered): stored answer id is not the streamed one",
        "ann/s0 #1 (answered): a finished answer is marked incomplete",
    ]


def test_a_stopped_exchange_must_be_marked_unless_it_finished_before_the_hang_up() -> None:
    mid_answer = check_history(
        [left("one", "answering")], {("ann", "s0"): [human("one"), ai("a1")]}
    )
    from_the_queue = check_history(
        [left("one", "waiting")], {("ann", "s0"): [human("one"), ai("a1")]}
    )
    unanswered = check_history([left("one", "waiting")], {("ann", "s0"): [human("one")]})

    assert mid_answer.problems == [] and mid_answer.finished_first == 1
    assert from_the_queue.problems == [
        "ann/s0 #1 (left): left the queue, yet stored as a finished answer"
    ]
    assert unanswered.problems == ["ann/s0 #1 (left): answer missing"]


def test_a_failed_exchange_may_be_stored_or_not_and_sessions_are_checked_apart() -> None:
    failed = Exchange("ann", "s0", "two", "timeout", 300.0)
    asked = [answered("one", "a1"), failed, answered("three", "a3"), answered("x", "b1", "s1")]
    stored = {
        ("ann", "s0"): [human("one"), ai("a1"), human("three"), ai("a3")],
        ("ann", "s1"): [human("x"), ai("b1")],
    }

    assert check_history(asked, stored).problems == []


# --- reading the stream and hanging up ----------------------------------------------


def test_take_event_reads_queue_answer_closing_and_error_events() -> None:
    reading = Reading()
    take_event(reading, data({"sources": []}), 0.1)
    take_event(reading, data({"queue": {"ahead": 1, "estimate_seconds": None}}), 0.2)
    take_event(reading, data({"answer": "Hi"}), 0.5)
    take_event(reading, data({"answer": " there"}), 0.6)
    take_event(reading, data({"message_id": "m1", "session_id": "s0"}), 0.7)

    assert (reading.queued, reading.answer_chunks, reading.first_words) == (True, 2, 0.5)
    assert reading.message_id == "m1" and reading.error is None

    take_event(reading, b'event: error\ndata: {"status_code": 500}', 0.8)
    assert reading.error and "500" in reading.error


def test_a_user_leaves_the_queue_or_after_a_few_words_and_never_after_the_end() -> None:
    queued = Reading(queued=True)
    not_queued_yet = Reading()
    one_word = Reading(answer_chunks=1, first_words=0.3)
    three_words = Reading(answer_chunks=3, first_words=0.3)
    finished = Reading(answer_chunks=3, message_id="m1")

    assert leave_now(queued, "waiting") == "waiting"
    assert leave_now(queued, "answering") is None
    assert leave_now(not_queued_yet, "waiting") is None
    assert leave_now(one_word, "waiting") == "answering"  # never queued: leaves at once
    assert leave_now(one_word, "answering") is None
    assert leave_now(three_words, "answering") == "answering"
    assert leave_now(finished, "answering") is None
    assert leave_now(three_words, None) is None


# --- plan and rows -------------------------------------------------------------------


def test_the_soak_runs_on_shipped_limits_and_the_quick_one_is_tiny() -> None:
    from settings import Settings

    limits = shipped_limits()

    assert limits["RATE_LIMIT_PER_MINUTE"] == str(
        Settings.model_fields["rate_limit_per_minute"].default
    )
    assert "LOG_LEVEL" not in limits
    assert (FULL.clients, FULL.minutes) == (8, 5.0)
    assert QUICK.minutes * 60 <= 30 and QUICK.clients <= 2


def test_rows_pass_only_without_failures_and_with_a_clean_history() -> None:
    plan = Plan(clients=1, minutes=1.0, folder=FULL.folder)
    clean = [answered("one", "a1"), left("two", "waiting")]
    good = check_history(
        clean, {("ann", "s0"): [human("one"), ai("a1"), human("two"), ai("x", True)]}
    )
    timeout = Exchange("ann", "s1", "three", "timeout", 300.0, detail="no end within 300 s")

    passing = rows_for(plan, "m", clean, good, 60.0, (100, 110))
    failing = rows_for(plan, "m", [*clean, timeout], good, 60.0, (100, 110))

    assert all(row.verdict in ("PASS", "info") for row in passing), passing
    missed = [row.figure for row in failing if row.verdict == "MISS"]
    assert missed == ["answers over 300 s (client timeout)"]
    assert passing[0].value == 2 and "1 answered, 1 left (1 while waiting)" in passing[0].note
