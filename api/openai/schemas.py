"""The OpenAI chat-completions wire format: the request model and the response objects.

Only the structure is checked here; what ragchat supports and its limits are checked
in `api.openai.request`, where the settings are. Unknown fields are ignored, as
clients (Open WebUI, LangChain, LiteLLM) send extras of their own.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[Any] | None = None
    function_call: Any = None


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body, plus ragchat's own fields (send them with `extra_body`)."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="A ragchat model; default ragchat-chat")
    messages: list[ChatMessage] = Field(..., min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Accepted, not applied")
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Accepted, not applied")
    n: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    modalities: list[str] | None = None
    user: str | None = Field(None, max_length=256)
    metadata: dict[str, Any] | None = Field(
        None, description="`filter` here (an object or its JSON text) filters the documents"
    )
    # ragchat's extensions
    filter: dict[str, Any] | None = Field(None, description="Pinecone-style metadata filter")
    k: int | None = Field(None, ge=1, description="How many chunks to retrieve")
    mode: Literal["hybrid", "dense", "sparse"] | None = None
    alpha: float | None = Field(None, ge=0.0, le=1.0, description="Dense weight (hybrid)")
    sources_footer: bool = Field(True, description="Append a numbered 'Sources:' list")


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def chunk_object(
    cid: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One `chat.completion.chunk`: a delta of the single choice."""
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }


def completion_object(
    cid: str, created: int, model: str, content: str, finish_reason: str, **extra: Any
) -> dict[str, Any]:
    """A whole `chat.completion`. `usage` is null: ragchat does not count prompt tokens."""
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": None,
        **extra,
    }


def model_object(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "ragchat"}
