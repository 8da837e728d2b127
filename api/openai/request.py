"""Turn an OpenAI chat-completions request into one stateless run of a ragchat graph.

The messages array is the conversation: its last user message is the question, the
user and assistant messages before it are the history (nothing is read from or
written to the history database). Everything ragchat cannot honour is refused with
a 400 that says so, rather than silently ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from api.openai.errors import OpenAIError
from api.openai.schemas import ChatCompletionRequest, ChatMessage
from chains.history import history_window
from chains.history.text import check_text
from chains.index.filters import FilterError, validate_filter
from graph.options import STAGES
from settings import Settings

MODELS: dict[str, str] = {
    "ragchat-simple": "simple",
    "ragchat-formatted": "formatted",
    "ragchat-rag": "rag",
    "ragchat-chat": "chat",
}
DEFAULT_MODEL = "ragchat-chat"


@dataclass(frozen=True)
class ChatRun:
    """What one completion runs: which stage, with which graph input, under which limits."""

    model: str
    stage: str  # a key of graph.options.STAGES
    payload: dict[str, Any]
    max_tokens: int
    stream: bool
    sources_footer: bool
    user: str | None


def resolve_model(name: str | None) -> str:
    model = name or DEFAULT_MODEL
    if model not in MODELS:
        raise OpenAIError(
            404,
            f"The model '{model}' does not exist; ragchat serves {', '.join(MODELS)}",
            code="model_not_found",
            param="model",
        )
    return model


def _refuse_unsupported(body: ChatCompletionRequest) -> None:
    refusals = [
        ("n", body.n is not None and body.n > 1, "n > 1 is not supported: one choice per request"),
        ("tools", bool(body.tools or body.functions), "tools and functions are not supported"),
        ("stop", bool(body.stop), "stop sequences are not supported"),
        ("logprobs", bool(body.logprobs), "logprobs are not supported"),
        (
            "modalities",
            any(m != "text" for m in body.modalities or []),
            "only the text modality is supported",
        ),
        (
            "response_format",
            (body.response_format or {}).get("type", "text") != "text",
            "only response_format {'type': 'text'} is supported",
        ),
    ]
    for param, refused, message in refusals:
        if refused:
            raise OpenAIError(400, message, code="unsupported_parameter", param=param)


def _text(message: ChatMessage, index: int) -> str:
    where = f"messages[{index}]"
    if message.role in ("tool", "function") or message.tool_calls or message.function_call:
        raise OpenAIError(
            400,
            f"{where}: tool and function messages are not supported",
            code="unsupported_parameter",
            param=where,
        )
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for part in message.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise OpenAIError(
                400,
                f"{where}: only text content is supported, got a '{part.get('type')}' part",
                code="unsupported_content",
                param=f"{where}.content",
            )
        texts.append(part["text"])
    return "\n".join(texts)


def _clean(text: str, field: str, max_chars: int, *, allow_newlines: bool = True) -> str:
    try:
        return check_text(
            text, field=field, max_chars=max_chars, kind="text" if allow_newlines else "line"
        )
    except ValueError as exc:
        raise OpenAIError(400, str(exc), param=field) from None


def _conversation(body: ChatCompletionRequest, settings: Settings) -> tuple[str, list[BaseMessage]]:
    """(question, history). System and developer messages are left out: ragchat's own
    system prompt (answer from the documents, cite them) is the one that applies."""
    *earlier, last = body.messages
    index = len(body.messages) - 1
    if last.role != "user":
        raise OpenAIError(
            400,
            f"the last message must be from the user, not '{last.role}'",
            param=f"messages[{index}].role",
        )
    question = _clean(_text(last, index), f"messages[{index}].content", settings.max_question_chars)
    history: list[BaseMessage] = []
    for i, message in enumerate(earlier):
        text = _text(message, i)
        if message.role not in ("user", "assistant") or not text.strip():
            continue
        text = _clean(text, f"messages[{i}].content", settings.max_body_bytes)
        history.append(HumanMessage(text) if message.role == "user" else AIMessage(text))
    # The same window the history store gives a stored conversation.
    return question, history_window(
        history[-settings.max_history_messages :], settings.history_max_tokens
    )


def _filter(body: ChatCompletionRequest, settings: Settings) -> dict[str, Any] | None:
    """From `filter` (extra_body) or `metadata.filter`, an object or its JSON text:
    OpenAI types metadata values as strings, so strict clients can send it encoded."""
    in_metadata = (body.metadata or {}).get("filter")
    if body.filter is not None and in_metadata is not None:
        raise OpenAIError(
            400, "send the filter once: as 'filter' or as 'metadata.filter'", param="filter"
        )
    raw: Any = body.filter if body.filter is not None else in_metadata
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise OpenAIError(
                400, "metadata.filter is not valid JSON", param="metadata.filter"
            ) from None
    try:
        return validate_filter(
            raw, max_depth=settings.max_filter_depth, max_nodes=settings.max_filter_nodes
        )
    except FilterError as exc:
        raise OpenAIError(400, f"filter: {exc}", param="filter") from None


def _search_fields(
    body: ChatCompletionRequest, stage: str, model: str, settings: Settings
) -> dict[str, Any]:
    options = STAGES[stage]
    fields = {
        "filter": _filter(body, settings),
        "k": body.k,
        "mode": body.mode,
        "alpha": body.alpha,
    }
    allowed = {
        "filter": options.filters,
        "k": options.retrieval is not None,
        "mode": options.tunable_mode,
        "alpha": options.tunable_mode,
    }
    for name, value in fields.items():
        if value is not None and not allowed[name]:
            raise OpenAIError(
                400,
                f"model '{model}' does not take '{name}'; "
                "ragchat-chat takes filter, k, mode and alpha",
                param=name,
            )
    if body.k is not None and body.k > settings.max_k:
        raise OpenAIError(400, f"k is {body.k}; the limit is {settings.max_k}", param="k")
    return fields


def parse_chat_request(
    body: ChatCompletionRequest, settings: Settings, *, authenticated_user: str | None
) -> ChatRun:
    """Validate a request against ragchat's features and limits; raise OpenAIError (400/404)."""
    model = resolve_model(body.model)
    stage = MODELS[model]
    _refuse_unsupported(body)
    question, history = _conversation(body, settings)
    payload: dict[str, Any] = {"question": question}
    if STAGES[stage].history:
        payload["history"] = history
    payload.update(_search_fields(body, stage, model, settings))
    user = authenticated_user  # with API keys on, the key decides; the body cannot override
    if user is None and body.user and body.user.strip():
        user = _clean(body.user, "user", 256, allow_newlines=False)
    requested = body.max_completion_tokens or body.max_tokens or settings.max_new_tokens
    payload["max_tokens"] = min(requested, settings.max_new_tokens)  # the model stops there
    return ChatRun(
        model=model,
        stage=stage,
        payload=payload,
        max_tokens=min(requested, settings.max_new_tokens),
        stream=body.stream,
        sources_footer=body.sources_footer,
        user=user,
    )
