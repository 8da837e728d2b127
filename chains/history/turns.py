"""A turn written in two steps: the question when it starts, the answer when it ends.

Between the two, the question stands alone: the server may have died (`kill -9`) or the
answer may still be streaming. Readers put each answer right after its question (turns
of one session may overlap) and leave unanswered questions out of the model's prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

M = TypeVar("M", bound=BaseMessage)

QUESTION_SUFFIX = ":q"
IN_REPLY_TO = "in_reply_to"  # the answer's response_metadata key naming its question's id


@dataclass(frozen=True)
class Turn:
    """The ids of one stored turn, as `HistoryStore.start_exchange` hands them out."""

    answer_message_id: str
    question_message_id: str
    new: bool  # False: the request id was seen before; its question is already stored


def question_id_for(answer_message_id: str) -> str:
    """The question's id, derived from its answer's: a retry finds both from the exchange."""
    return answer_message_id + QUESTION_SUFFIX


def reply_to(message: BaseMessage) -> str | None:
    """The question id an answer names (answers written by `finish_exchange` do)."""
    if not isinstance(message, AIMessage):
        return None
    question = message.response_metadata.get(IN_REPLY_TO)
    return question if isinstance(question, str) else None


def conversation_order(messages: Sequence[M]) -> list[M]:
    """`messages` (oldest first) with every answer moved right after its own question.

    Rows are stored in the order they were written: two overlapping turns of one session
    give Q1 Q2 A1 A2. An answer whose question is older than `messages` (the newest rows
    of a long session) is left out; one that names no question (written in one step
    before questions were stored first) stays where it is.
    """
    questions = {m.id for m in messages if isinstance(m, HumanMessage) and m.id}
    answers: dict[str, M] = {}
    ordered: list[M] = []
    for message in messages:
        question = reply_to(message)
        if question is None:
            ordered.append(message)
        elif question in questions:
            answers.setdefault(question, message)
    placed: list[M] = []
    for message in ordered:
        placed.append(message)
        answer = answers.get(message.id or "") if isinstance(message, HumanMessage) else None
        if answer is not None:
            placed.append(answer)
    return placed


def answered_turns(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """`messages` without questions that have no answer after them, for a prompt.

    Such a question is a turn still streaming or one the server did not live to answer; a
    retry of it asks it again, so keeping it would show the model the question twice.
    """
    kept: list[BaseMessage] = []
    for index, message in enumerate(messages):
        following = messages[index + 1] if index + 1 < len(messages) else None
        if isinstance(message, HumanMessage) and not isinstance(following, AIMessage):
            continue
        kept.append(message)
    return kept
