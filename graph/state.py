"""Graph state: a narrow input, a wider internal state, an explicit output."""

from __future__ import annotations

from typing import (
    Any,
    NotRequired,  # pydantic refuses typing.TypedDict on 3.11
)

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from typing_extensions import TypedDict

from chains.passages import Passage


class ChatInput(TypedDict):
    """What a caller sends. Only `question` is required; stages ignore what they don't use."""

    question: str
    username: NotRequired[str | None]
    session_id: NotRequired[str | None]
    request_id: NotRequired[str | None]
    filter: NotRequired[dict[str, Any] | None]
    k: NotRequired[int | None]
    mode: NotRequired[str | None]
    alpha: NotRequired[float | None]
    history: NotRequired[list[BaseMessage]]  # stateless callers pass the conversation here
    max_tokens: NotRequired[int | None]  # below the server's MAX_NEW_TOKENS, never above


class ChatState(ChatInput):
    """Everything the nodes read and write during one run."""

    standalone_question: NotRequired[str]
    """What retrieval searches with: the question, or for a follow-up the rewrite (never stored)."""
    documents: NotRequired[list[Document]]
    """The retrieved chunks: the sources a person sees, numbered from 1."""
    passages: NotRequired[list[Passage]]
    """The parts of those chunks the prompt gets, within CONTEXT_TOKENS."""
    answer: NotRequired[str]
    message_id: NotRequired[str | None]


class ChatOutput(TypedDict):
    """What a run returns."""

    answer: str
    message_id: NotRequired[str | None]
    session_id: NotRequired[str | None]
    standalone_question: NotRequired[str]
    documents: NotRequired[list[Document]]
