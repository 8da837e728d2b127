"""Per-user chat history in one SQL database: the store and what it promises callers."""

from chains.history.models import (
    DEFAULT_SESSION_ID,
    DatabaseUnavailable,
    HistoryError,
    MessageNotFound,
    SessionInfo,
    SessionNotFound,
    StoredMessage,
    ThreadExists,
    validate_comment,
    validate_message_id,
    validate_session_id,
    validate_username,
)
from chains.history.store import HistoryStore, history_window
from chains.history.threads import ThreadInfo, ThreadRecords

__all__ = [
    "DEFAULT_SESSION_ID",
    "DatabaseUnavailable",
    "HistoryError",
    "HistoryStore",
    "MessageNotFound",
    "SessionInfo",
    "SessionNotFound",
    "StoredMessage",
    "ThreadExists",
    "ThreadInfo",
    "ThreadRecords",
    "history_window",
    "validate_comment",
    "validate_message_id",
    "validate_session_id",
    "validate_username",
]
