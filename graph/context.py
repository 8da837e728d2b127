"""Who is asking and what they may tune: read from the run's state and config.

Identity (user, session) is server-owned: when the server (or LangGraph Platform
auth) puts `user_id` into `config["configurable"]`, it wins over anything in the
request body. Tunables (`k`, `mode`, `alpha`, `filter`) come from the request and
are clamped to the server's limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

from chains.history import DEFAULT_SESSION_ID, validate_session_id, validate_username
from graph.state import ChatState
from settings import Settings


class MissingIdentity(ValueError):
    """A history stage was called without a user."""


@dataclass(frozen=True)
class RequestContext:
    username: str
    session_id: str
    request_id: str | None

    @classmethod
    def from_run(cls, state: ChatState, config: RunnableConfig | None) -> RequestContext:
        configurable: dict[str, Any] = (config or {}).get("configurable") or {}
        username = configurable.get("user_id") or state.get("username")
        if not username:
            raise MissingIdentity("a username is required for this route")
        session_id = state.get("session_id") or DEFAULT_SESSION_ID
        return cls(
            username=validate_username(str(username)),
            session_id=validate_session_id(session_id),
            request_id=state.get("request_id") or None,
        )


def queue_key(state: ChatState, config: RunnableConfig | None) -> str:
    """Whose turn a model call takes in the model's fair queue.

    The key the server chose (`queue_key`), else the user (server-owned, else the
    body's), else the client's address the server passed (`client`): anonymous callers
    take turns by client.
    """
    configurable: dict[str, Any] = (config or {}).get("configurable") or {}
    if configurable.get("queue_key"):
        return str(configurable["queue_key"])
    user = configurable.get("user_id") or state.get("username")
    if user:
        return f"user:{user}"
    client = configurable.get("client")
    return f"client:{client}" if client else "anonymous"


@dataclass(frozen=True)
class SearchParams:
    k: int
    mode: str
    alpha: float | None  # None: the retriever weighs dense and sparse by the question
    filter: dict[str, Any] | None

    @classmethod
    def from_state(cls, state: ChatState, settings: Settings, default_mode: str) -> SearchParams:
        k = state.get("k") or settings.retrieval_k
        alpha = state.get("alpha")
        return cls(
            k=max(1, min(int(k), settings.max_k)),
            mode=state.get("mode") or default_mode,
            alpha=None if alpha is None else float(alpha),
            filter=state.get("filter") or None,
        )
