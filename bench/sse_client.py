"""Time one LangServe `/stream` call over HTTP: when each token arrived at the client.

Parses the SSE wire format directly (`event:` / `data:` lines), the way a
browser or any non-Python client sees the stream.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class StreamTiming:
    """Seconds since the request was sent; `error` is set for HTTP or SSE `error` events."""

    token_times: list[float] = field(default_factory=list)  # one per non-empty text event
    text: str = ""
    total: float = 0.0
    error: str | None = None
    closing: dict[str, Any] | None = None

    @property
    def ttft(self) -> float | None:
        return self.token_times[0] if self.token_times else None

    @property
    def tokens(self) -> int:
        """Text events; a server may put several model tokens into one event."""
        return len(self.token_times)

    @property
    def words(self) -> int:
        return len(self.text.split())


def token_text(data: Any) -> str:
    """A text stage streams strings; history and RAG stages stream `{"answer": ...}`."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        return str(data.get("answer") or "")
    return ""


async def timed_stream(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any]
) -> StreamTiming:
    """POST `{"input": payload}` to `url` (a `/stream` route) and time every token.

    Reads raw bytes and splits events itself: httpx's line iterator costs more
    CPU per token than the server spends, and client and server share the cores.
    """
    timing = StreamTiming()
    start = time.perf_counter()
    try:
        async with client.stream("POST", url, json={"input": payload}) as response:
            if response.status_code != 200:
                await response.aread()
                timing.error = f"HTTP {response.status_code}: {response.text[:200]}"
                return timing
            buffer = b""
            async for raw in response.aiter_raw():
                now = time.perf_counter() - start
                buffer += raw
                *events, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
                for event in events:
                    _take_event(timing, event, now)
    except httpx.HTTPError as exc:
        timing.error = f"{type(exc).__name__}: {exc}"
    finally:
        timing.total = time.perf_counter() - start
    return timing


def sse_event(event: bytes) -> tuple[str, bytes]:
    """An SSE event's name ("message" unless it says) and its data line."""
    name, data = "message", b""
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            data = line[5:].strip()
    return name, data


def _take_event(timing: StreamTiming, event: bytes, arrived: float) -> None:
    name, data = sse_event(event)
    if name == "error":
        timing.error = f"SSE error: {data[:200].decode(errors='replace')}"
    elif name == "data" and data:
        parsed = json.loads(data)
        if text := token_text(parsed):
            timing.token_times.append(arrived)
            timing.text += text
        elif isinstance(parsed, dict):
            timing.closing = parsed
