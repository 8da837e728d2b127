"""A run's `input` turned into the input of a stage graph, checked like the stage routes'.

Two shapes are accepted: ragchat's own (`{"question": ..., "k"?, "filter"?, ...}`, as
the LangServe routes take it) and the chat shape LangGraph's UIs send
(`{"messages": [{"role": "user", "content": ...}]}`), whose last human message is the
question. On a thread the conversation comes from the database, so earlier messages of
the input are not used; a stateless run has no database, so they become its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from chains.history import history_window
from settings import Settings

HUMAN_ROLES = ("user", "human")
AI_ROLES = ("assistant", "ai")
SERVER_OWNED = ("username", "session_id", "history")  # never taken from a client


@dataclass(frozen=True)
class RunInput:
    """The graph's input, and the messages it adds to the conversation's start."""

    payload: dict[str, Any]
    earlier: list[BaseMessage]  # a stateless run's history, from its input messages
    question_id: str | None = None  # the id a UI gave its message, kept in `values`


def _refuse(loc: tuple[str, ...], message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", "input", *loc), "msg": message, "type": "value_error"}]
    )


def _role(message: dict[str, Any]) -> str:
    return str(message.get("role") or message.get("type") or "")


def _text(message: dict[str, Any], index: int) -> str:
    """A message's text; content parts other than text are refused, never dropped."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            else:
                raise _refuse(("messages", str(index), "content"), "only text content is supported")
        return "\n".join(texts)
    raise _refuse(("messages", str(index), "content"), "content must be text")


def _from_messages(messages: Any) -> tuple[str, list[BaseMessage]]:
    """(the last human message's text, the user and assistant messages before it)."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _refuse(("messages",), "messages must be a list of {role, content} objects")
    humans = [i for i, m in enumerate(messages) if _role(m) in HUMAN_ROLES]
    if not humans:
        raise _refuse(("messages",), "no user message to answer")
    last = humans[-1]
    earlier: list[BaseMessage] = []
    for index, message in enumerate(messages[:last]):
        role = _role(message)
        if role in HUMAN_ROLES:
            earlier.append(HumanMessage(_text(message, index)))
        elif role in AI_ROLES:
            earlier.append(AIMessage(_text(message, index)))
    return _text(messages[last], last), earlier


def run_input(
    raw: dict[str, Any] | None,
    model: type[BaseModel],
    settings: Settings,
    *,
    user: str,
    thread_id: str | None,
) -> RunInput:
    """Validate a run's input against the stage's input model (its limits, 422) and fill in
    the server-owned fields: the acting user, and the thread as the session."""
    fields = {k: v for k, v in (raw or {}).items() if k not in SERVER_OWNED}
    earlier: list[BaseMessage] = []
    question_id = None
    if "messages" in fields:
        messages = fields.pop("messages")
        question, earlier = _from_messages(messages)
        fields.setdefault("question", question)
        last = [m for m in messages if _role(m) in HUMAN_ROLES][-1]
        question_id = str(last["id"])[:128] if last.get("id") else None
    if "question" not in fields:
        raise _refuse((), "give a 'question', or 'messages' ending with a user message")
    if "username" in model.model_fields:
        fields["username"] = user
        if thread_id is not None:
            fields["session_id"] = thread_id
    try:
        checked = model.model_validate(fields)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", "input", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
    payload = checked.model_dump(exclude_none=True)
    if thread_id is None:
        payload.pop("session_id", None)
        window = history_window(
            earlier[-settings.max_history_messages :], settings.history_max_tokens
        )
        return RunInput(payload, window, question_id)
    return RunInput(payload, [], question_id)
