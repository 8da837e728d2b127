"""What a soak's users asked, and whether the server's history kept exactly that.

Kept apart from the soak that drives the server (`bench/model_soak.py`) so the
bookkeeping can be unit-tested without a model: each user asks one question at a time,
so every session's stored conversation must be the session's exchanges in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["answered", "left", "server error", "refused", "timeout", "failed"]
LeftAt = Literal["waiting", "answering"]

FAILURES: frozenset[str] = frozenset({"server error", "refused", "timeout", "failed"})
"""Outcomes after which the question may or may not be stored: counted as failures on their
own rows, never as history problems."""


@dataclass(frozen=True)
class Exchange:
    """One question a user asked, and how it ended at the client."""

    user: str
    session: str
    question: str
    outcome: Outcome
    seconds: float
    """From sending the question to the end of the stream (or to hanging up)."""
    first_words: float | None = None
    """Seconds until the first answer chunk; None if none arrived."""
    message_id: str | None = None
    """The answer's id from the closing chunk (answered exchanges only)."""
    left_at: LeftAt | None = None
    """Where a user who hung up did so: still in the queue, or while the answer streamed."""
    detail: str = ""


@dataclass
class HistoryCheck:
    """Problems (lost, duplicated, out of order, unmarked) and what the stopped ones became."""

    problems: list[str]
    stopped_marked: int = 0
    """Exchanges the client left whose stored answer is marked incomplete."""
    finished_first: int = 0
    """Left mid-answer, but the answer was complete before the server saw the hang-up."""


def check_history(
    exchanges: Sequence[Exchange], stored: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]
) -> HistoryCheck:
    """Compare each session's stored messages (`/sessions/{id}/messages`, oldest first) with
    the exchanges asked in it, in order.

    An answered exchange must be stored once: its question, then its answer under the id the
    stream gave, not marked incomplete. One the user left must keep its question and an
    answer marked incomplete; a user who hung up mid-answer may find it complete (the model
    finished before the server noticed), a user who left the queue never. A failed exchange
    may have stored its question or not, but nothing twice.
    """
    check = HistoryCheck(problems=[])
    by_session: dict[tuple[str, str], list[Exchange]] = {}
    for exchange in exchanges:
        by_session.setdefault((exchange.user, exchange.session), []).append(exchange)
    for key, asked in by_session.items():
        _check_session(f"{key[0]}/{key[1]}", asked, list(stored.get(key, [])), check)
    return check


def _check_session(
    where: str, asked: list[Exchange], messages: list[Mapping[str, Any]], check: HistoryCheck
) -> None:
    at = 0
    for number, exchange in enumerate(asked, start=1):
        label = f"{where} #{number} ({exchange.outcome})"
        question = messages[at] if at < len(messages) else None
        if question is None or question.get("role") != "human":
            if exchange.outcome not in FAILURES:
                check.problems.append(f"{label}: question missing")
            continue
        if question.get("content") != exchange.question:
            if exchange.outcome not in FAILURES:
                check.problems.append(f"{label}: another question stored in its place")
            continue
        at += 1
        answer = messages[at] if at < len(messages) else None
        if answer is None or answer.get("role") != "ai":
            if exchange.outcome not in FAILURES:
                check.problems.append(f"{label}: answer missing")
            continue
        at += 1
        _check_answer(label, exchange, answer, check)
        while at < len(messages) and messages[at].get("role") == "ai":
            check.problems.append(f"{label}: answer stored twice")
            at += 1
    if at < len(messages):
        check.problems.append(f"{where}: {len(messages) - at} message(s) nobody asked for")


def _check_answer(
    label: str, exchange: Exchange, answer: Mapping[str, Any], check: HistoryCheck
) -> None:
    incomplete = bool(answer.get("incomplete"))
    if exchange.outcome == "answered":
        if answer.get("id") != exchange.message_id:
            check.problems.append(f"{label}: stored answer id is not the streamed one")
        if incomplete:
            check.problems.append(f"{label}: a finished answer is marked incomplete")
    elif exchange.outcome == "left":
        if incomplete:
            check.stopped_marked += 1
        elif exchange.left_at == "answering":
            check.finished_first += 1
        else:
            check.problems.append(f"{label}: left the queue, yet stored as a finished answer")
