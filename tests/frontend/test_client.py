"""The frontend's HTTP client against an in-memory transport (no processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from frontend.client import AnswerStream, BackendClient
from frontend.errors import BackendError

URL = "http://backend.test"


def recording_client(
    respond: Any, api_key: str | None = None
) -> tuple[BackendClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(request)

    return BackendClient(URL, api_key=api_key, transport=httpx.MockTransport(handler)), seen


def test_rest_calls_follow_the_contract() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)
        if request.url.path == "/feedback":
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(200, json=[] if request.method == "GET" else {"id": "s1"})

    client, seen = recording_client(respond, api_key="k-123")
    assert client.list_sessions("ann") == []
    assert client.create_session("ann") == {"id": "s1"}
    client.messages("ann", "s:1")
    client.delete_session("ann", "s:1")
    client.send_feedback("ann", "m1", -1)
    calls = [(r.method, r.url.path, dict(r.url.params)) for r in seen]
    assert calls == [
        ("GET", "/sessions", {"username": "ann"}),
        ("POST", "/sessions", {}),
        ("GET", "/sessions/s:1/messages", {"username": "ann"}),
        ("DELETE", "/sessions/s:1", {"username": "ann"}),
        ("POST", "/feedback", {}),
    ]
    assert json.loads(seen[1].content) == {"username": "ann"}
    assert json.loads(seen[4].content) == {"username": "ann", "message_id": "m1", "score": -1}
    assert all(r.headers["authorization"] == "Bearer k-123" for r in seen)


def test_no_key_sends_no_authorization_header() -> None:
    client, seen = recording_client(lambda r: httpx.Response(200, json={"status": "ok"}))
    client.health()
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"detail": "no session 'x' for this user"}, "Not found (HTTP 404): no session"),
        (401, {"detail": "invalid API key"}, "refused the API key"),
        (503, {"detail": "chat history is unavailable"}, "unavailable right now (HTTP 503)"),
    ],
)
def test_rest_errors_become_backend_errors(status: int, body: dict, expected: str) -> None:
    client, _ = recording_client(lambda r: httpx.Response(status, json=body))
    with pytest.raises(BackendError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        client.messages("ann", "x")


def test_unreachable_backend_is_a_backend_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client, _ = recording_client(refuse)
    with pytest.raises(BackendError, match="Cannot reach the backend at http://backend.test"):
        client.list_sessions("ann")


def test_text_chunks_pass_through() -> None:
    stream = AnswerStream(iter(["Par", "", "is"]), URL)
    assert list(stream) == ["Par", "is"]
    assert stream.text == "Paris" and stream.closing == {}


def test_dict_chunks_yield_answer_and_keep_the_closing_chunk() -> None:
    sources = [{"number": 1, "title": "T", "page_content": "text"}]
    chunks = [
        {"answer": "Par"},
        {"answer": "is"},
        {"sources": sources, "message_id": "m1", "session_id": "s1"},
    ]
    stream = AnswerStream(iter(chunks), URL)
    assert "".join(stream) == "Paris"
    assert stream.closing == {"sources": sources, "message_id": "m1", "session_id": "s1"}


def test_sources_are_handed_over_before_the_first_answer_token() -> None:
    sources = [{"number": 1, "title": "T", "page_content": "text"}]
    chunks = [{"sources": sources}, {"answer": "Par"}, {"answer": "is"}, {"message_id": "m1"}]
    seen: list[Any] = []
    stream = AnswerStream(iter(chunks), URL, on_sources=lambda s: seen.append(("sources", s)))
    for text in stream:
        seen.append(("text", text))
    assert seen == [("sources", sources), ("text", "Par"), ("text", "is")]
    assert stream.closing == {"sources": sources, "message_id": "m1"}


def test_places_in_line_are_handed_over_then_cleared_by_the_first_words() -> None:
    chunks = [
        {"sources": []},
        {"queue": {"ahead": 2, "estimate_seconds": 9.0}},
        {"queue": {"ahead": 1, "estimate_seconds": 4.5}},
        {"answer": "Par"},
        {"answer": "is"},
    ]
    seen: list[Any] = []
    stream = AnswerStream(iter(chunks), URL, on_queue=lambda p: seen.append(("place", p)))
    for text in stream:
        seen.append(("text", text))
    assert seen == [
        ("place", {"ahead": 2, "estimate_seconds": 9.0}),
        ("place", {"ahead": 1, "estimate_seconds": 4.5}),
        ("place", None),
        ("text", "Par"),
        ("text", "is"),
    ]
    assert "queue" not in stream.closing


def test_failure_mid_stream_keeps_what_arrived_and_raises_readably() -> None:
    def broken() -> Iterator[Any]:
        yield {"answer": "Par"}
        request = httpx.Request("POST", f"{URL}/chat/stream")
        raise httpx.HTTPStatusError(
            "boom",
            request=request,
            response=httpx.Response(500, text="Internal Server Error", request=request),
        )

    received = []
    stream = AnswerStream(broken(), URL)
    with pytest.raises(BackendError, match=r"internal error \(see its log\) \(HTTP 500\)"):
        for text in stream:
            received.append(text)
    assert received == ["Par"] and stream.text == "Par"


def test_unknown_stage_is_refused_before_any_request() -> None:
    client, seen = recording_client(lambda r: httpx.Response(200))
    with pytest.raises(BackendError, match="Unknown stage"):
        client.stream_answer("admin", {"question": "hi"})
    assert seen == []
