"""The Agent Protocol's request bodies (the fields ragchat reads) and response objects.

Shapes follow `langgraph_sdk.schema` (Thread, ThreadState, Assistant). Unknown fields
are ignored, as the SDK sends many that a self-hosted subset has no use for (webhooks,
durability, tracing); fields that would change what a run does and that ragchat cannot
honour (interrupts, commands, checkpoints, other multitask strategies) are refused with
422 in `runs.py` rather than silently dropped.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.agent_protocol.serialize import jsonable
from chains.history import ThreadInfo

MAX_METADATA_CHARS = 4000
# A thread id is a session id (chains.history.validate_session_id): UUIDs fit.
THREAD_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
StreamMode = Literal["values", "updates", "messages-tuple", "messages", "custom", "events"]


def _small_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(json.dumps(value, default=str)) > MAX_METADATA_CHARS:
        raise ValueError(f"metadata is limited to {MAX_METADATA_CHARS} characters of JSON")
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ThreadCreate(Body):
    thread_id: str | None = Field(None, pattern=THREAD_ID_PATTERN)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"

    _check_metadata = field_validator("metadata")(_small_metadata)


class ThreadSearch(Body):
    metadata: dict[str, Any] | None = None
    ids: list[str] | None = Field(None, max_length=1000)
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)

    _check_metadata = field_validator("metadata")(_small_metadata)


class AssistantSearch(Body):
    graph_id: str | None = Field(None, max_length=64)
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class HistoryQuery(Body):
    limit: int = Field(10, ge=1, le=1000)


class CheckpointQuery(Body):
    checkpoint: dict[str, Any] = Field(default_factory=dict)


class RunCreate(Body):
    assistant_id: str = Field(..., min_length=1, max_length=64)
    input: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    multitask_strategy: str | None = Field(None, max_length=32)
    if_not_exists: Literal["create", "reject"] = "reject"
    # What a client that leaves a stream does to its run: stop it (the default), or let it
    # finish and store its turn (what agent-chat-ui asks for, with resumable streams).
    on_disconnect: Literal["cancel", "continue"] = "cancel"
    # Present only to be refused: ragchat's graph has no interrupts or checkpoints.
    command: dict[str, Any] | None = None
    interrupt_before: Any = None
    interrupt_after: Any = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None

    _check_metadata = field_validator("metadata")(_small_metadata)

    @property
    def modes(self) -> list[str]:
        modes = [self.stream_mode] if isinstance(self.stream_mode, str) else self.stream_mode
        # "messages" asks for the same token stream; LangGraph's clients send messages-tuple.
        return list(dict.fromkeys("messages-tuple" if m == "messages" else m for m in modes))


def checkpoint_of(thread_id: str, message_count: int) -> dict[str, Any]:
    """A checkpoint id per stored turn: the thread's state changes only when one is saved."""
    return {
        "thread_id": thread_id,
        "checkpoint_ns": "",
        "checkpoint_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{thread_id}/{message_count}")),
        "checkpoint_map": None,
    }


def thread_object(info: ThreadInfo, messages: list[BaseMessage], status: str) -> dict[str, Any]:
    """A thread as `langgraph_sdk.schema.Thread` describes it; its values are its messages."""
    return {
        "thread_id": info.thread_id,
        "created_at": info.created.isoformat(),
        "updated_at": info.updated.isoformat(),
        "metadata": info.metadata,
        "status": status,
        "values": {"messages": jsonable(messages)},
        "interrupts": {},
    }


def state_object(
    info: ThreadInfo, messages: list[BaseMessage], *, at: str | None = None
) -> dict[str, Any]:
    """The thread's state after its first `len(messages)` stored messages."""
    return {
        "values": {"messages": jsonable(messages)},
        "next": [],
        "tasks": [],
        "interrupts": [],
        "checkpoint": checkpoint_of(info.thread_id, len(messages)),
        "parent_checkpoint": (
            checkpoint_of(info.thread_id, len(messages) - 2) if len(messages) >= 2 else None
        ),
        "metadata": {**info.metadata, "step": len(messages) // 2},
        "created_at": at or info.updated.isoformat(),
    }


def state_history(info: ThreadInfo, messages: list[BaseMessage], limit: int) -> list[dict]:
    """One state per stored turn (question and answer), newest first, then the empty one."""
    ends = sorted({len(messages), *range(0, len(messages) + 1, 2)}, reverse=True)
    return [state_object(info, messages[:end]) for end in ends[:limit]]
