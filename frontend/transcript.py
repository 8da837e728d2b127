"""The chat as the app keeps it in `st.session_state`: plain dicts, one per message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict


class ChatEntry(TypedDict, total=False):
    role: Literal["user", "assistant"]
    content: str
    sources: list[dict[str, Any]]
    message_id: str | None
    incomplete: bool
    feedback: int | None  # -1, 1 or None, as the backend stores it
    error: str | None


def user_entry(text: str) -> ChatEntry:
    return {"role": "user", "content": text}


def assistant_entry(text: str, closing: Mapping[str, Any], error: str | None = None) -> ChatEntry:
    return {
        "role": "assistant",
        "content": text,
        "sources": list(closing.get("sources") or []),
        "message_id": closing.get("message_id"),
        "incomplete": error is not None,
        "feedback": None,
        "error": error,
    }


def unanswered_entry() -> ChatEntry:
    """Stands for the answer a stored question never got (the server stopped mid-turn)."""
    return {
        "role": "assistant",
        "content": "",
        "sources": [],
        "message_id": None,
        "incomplete": True,
        "feedback": None,
        "error": None,
    }


def from_stored(messages: Iterable[Mapping[str, Any]]) -> list[ChatEntry]:
    """`GET /sessions/{id}/messages` → entries. Sources are not stored, so none come back.

    A question without an answer (its turn never finished) gets an empty, incomplete
    answer, so the chat keeps alternating and says what happened.
    """
    entries: list[ChatEntry] = []
    for message in messages:
        if message.get("role") == "human":
            if entries and entries[-1]["role"] == "user":
                entries.append(unanswered_entry())
            entries.append(user_entry(str(message.get("content", ""))))
        elif message.get("role") == "ai":
            entries.append(
                {
                    "role": "assistant",
                    "content": str(message.get("content", "")),
                    "sources": [],
                    "message_id": message.get("id"),
                    "incomplete": bool(message.get("incomplete")),
                    "feedback": message.get("feedback_score"),
                    "error": None,
                }
            )
    if entries and entries[-1]["role"] == "user":
        entries.append(unanswered_entry())
    return entries
