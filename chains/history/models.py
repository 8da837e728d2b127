"""What the history store promises its callers: errors, input validation, API output models.

Kept free of database code so the server can validate input and build responses from it
without touching the engine.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from chains.history.text import check_text

DEFAULT_SESSION_ID = "default"
MAX_NAME_CHARS = 64
MAX_ID_CHARS = 128
MAX_TITLE_CHARS = 80
MAX_COMMENT_CHARS = 2000

_SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# What a title leaves out: control, format, surrogate and line/paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class HistoryError(Exception):
    """Base class of everything the history store raises on purpose."""


class SessionNotFound(HistoryError):
    """The user has no session with that id (another user's session counts as absent)."""


class MessageNotFound(HistoryError):
    """No message with that id in any of the user's sessions."""


class ThreadExists(HistoryError):
    """The user already has a session with the thread id a client asked to create."""


class DatabaseUnavailable(HistoryError):
    """The database cannot be reached or written; retrying later may succeed."""


def validate_username(name: object) -> str:
    """Return `name` unchanged if it is a storable user name, else raise ValueError."""
    return check_text(name, field="user name", max_chars=MAX_NAME_CHARS, kind="name")


def validate_session_id(session_id: object) -> str:
    """Return `session_id` unchanged if it matches `[A-Za-z0-9._:-]{1,64}`, else ValueError."""
    value = check_text(session_id, field="session id", max_chars=MAX_NAME_CHARS, kind="name")
    if not _SESSION_ID.fullmatch(value):
        raise ValueError("session id may contain only letters, digits and . _ : -")
    return value


def validate_message_id(message_id: object, what: str = "message id") -> str:
    """Ids of messages and requests: non-empty, at most 128 characters, no control characters."""
    return check_text(message_id, field=what, max_chars=MAX_ID_CHARS, kind="name")


def validate_comment(comment: str | None) -> str | None:
    """Feedback comments: free text up to 2000 characters."""
    if comment is None:
        return None
    return check_text(comment, field="feedback comment", max_chars=MAX_COMMENT_CHARS)


def make_title(question: str) -> str:
    """A one-line title from a session's first question: printable, at most 80 characters."""
    printable = "".join(" " if unicodedata.category(c) in _UNPRINTABLE else c for c in question)
    title = " ".join(printable.split())
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SessionInfo(BaseModel):
    """One chat session as listed to its owner."""

    id: str = Field(max_length=MAX_NAME_CHARS, description="client-visible session id")
    title: str = Field(default="", max_length=MAX_TITLE_CHARS, description="first question")
    created: datetime
    updated: datetime
    message_count: int = Field(ge=0)

    _utc = field_validator("created", "updated")(_as_utc)


class StoredMessage(BaseModel):
    """One stored message with the owner's feedback on it, oldest first in a listing."""

    id: str = Field(max_length=MAX_ID_CHARS)
    role: str = Field(description="LangChain message type: human, ai, system or tool")
    content: str
    incomplete: bool = Field(
        default=False, description="the answer stream failed or the client left"
    )
    feedback_score: Literal[-1, 1] | None = None
    feedback_comment: str | None = None
