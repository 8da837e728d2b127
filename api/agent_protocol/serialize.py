"""Graph values, messages and events as JSON, the way LangGraph's clients read them.

Messages go out as LangChain's dict form (`type`, `content`, `id`, ...), which
`langgraph_sdk` hands back as dicts and `RemoteGraph` callers read as such; documents
as `{"page_content", "metadata"}`. Anything else unknown becomes its `str`, so a
stream never breaks on a value it cannot encode.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from pydantic import BaseModel


def jsonable(value: Any) -> Any:
    """`value` made of dicts, lists, strings, numbers, booleans and None only."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, BaseMessage):
        return jsonable(value.model_dump())
    if isinstance(value, Document):
        return {"page_content": value.page_content, "metadata": jsonable(value.metadata)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars (passage scores)
        return jsonable(value.tolist())
    return str(value)


def sse(event: str, data: Any) -> bytes:
    """One server-sent event as LangGraph Platform writes it: `event:`, `data:`, blank line."""
    payload = json.dumps(jsonable(data), ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\r\ndata: {payload}\r\n\r\n".encode()
