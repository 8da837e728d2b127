"""Backend failures become one readable sentence (no model, no processes)."""

from __future__ import annotations

import httpx
import pytest

from frontend.errors import BackendError, message_for_status, readable_detail, to_backend_error

URL = "http://127.0.0.1:9"


def test_pydantic_detail_list_is_flattened() -> None:
    body = (
        '{"detail":[{"type":"string_too_long","loc":["question"],'
        '"msg":"String should have at most 50 characters"},'
        '{"loc":["body","filter"],"msg":"Value error, unknown filter operator \'$foo\'"}]}'
    )
    assert readable_detail(body) == (
        "question: String should have at most 50 characters; filter: unknown filter operator '$foo'"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"detail": "invalid API key"}', "invalid API key"),
        ('{"status_code": 500, "message": "boom"}', "boom"),
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        ("", ""),
    ],
)
def test_detail_of_other_bodies(body: str, expected: str) -> None:
    assert readable_detail(body) == expected


def test_status_messages_name_the_status_and_what_to_do() -> None:
    assert message_for_status(401, '{"detail": "invalid API key"}') == (
        "The backend refused the API key (set it in the sidebar or RAGCHAT_API_KEY) "
        "(HTTP 401): invalid API key"
    )
    assert message_for_status(503, '{"detail": "chat history is unavailable: x"}').startswith(
        "The backend is unavailable right now (HTTP 503): chat history"
    )
    assert message_for_status(418, "") == "The backend rejected the request (HTTP 418)."


def test_connection_refused_says_where_and_how_to_start() -> None:
    error = to_backend_error(httpx.ConnectError("[Errno 111] Connection refused"), URL)
    assert isinstance(error, BackendError)
    assert f"Cannot reach the backend at {URL}" in str(error)
    assert "ragchat serve" in str(error)


def test_read_timeout_is_not_reported_as_unreachable() -> None:
    error = to_backend_error(httpx.ReadTimeout("timed out"), URL)
    assert "stopped answering" in str(error)


def test_status_error_with_unread_streamed_body_still_reads() -> None:
    request = httpx.Request("POST", f"{URL}/chat/stream")
    response = httpx.Response(422, request=request, stream=httpx.ByteStream(b"{}"))
    exc = httpx.HTTPStatusError("422", request=request, response=response)
    error = to_backend_error(exc, URL)
    assert str(error) == "The backend did not accept the request (HTTP 422)."
    assert error.status == 422


def test_unexpected_exception_is_named_not_raised() -> None:
    error = to_backend_error(KeyError("answer"), URL)
    assert str(error) == "Unexpected error talking to the backend: KeyError: 'answer'"
