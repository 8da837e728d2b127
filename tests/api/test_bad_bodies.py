"""Malformed bodies get a 4xx that names the problem, in each route family's error shape.

Families: our REST routes and LangServe's (`{"detail": ...}`), the OpenAI-compatible
`/v1` (`{"error": {...}}`), and the form routes (`/documents`, `/login`). Every kind of
bad body goes to every family; none may answer 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FakeRetriever, fake_chat_model

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
MULTIPART = {"content-type": "multipart/form-data; boundary=XYZ"}
TRUNCATED = b'--XYZ\r\nContent-Disposition: form-data; name="files"; filename="a.md"\r\n\r\nhal'

# name: (body, headers)
BAD_BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "not UTF-8": (b"+\xff\\", JSON),
    "empty": (b"", JSON),
    "a JSON array": (b"[1, 2]", JSON),
    "JSON null": (b"null", JSON),
    "a form where JSON is expected": (b"question=hi&username=ada", FORM),
    "plain text": (b"hello", {"content-type": "text/plain"}),
    "truncated multipart": (TRUNCATED, MULTIPART),
    "multipart without a boundary": (b"--XYZ\r\n", {"content-type": "multipart/form-data"}),
}

JSON_ROUTES = {
    "/sessions": "ours",
    "/feedback": "ours",
    "/chat/invoke": "ours",
    "/chat/batch": "ours",
    "/chat/stream": "ours",
    "/simple/stream_events": "ours",
    "/rag/stream_log": "ours",
    "/v1/chat/completions": "openai",
}

# What each kind of bad body gets on a JSON route (OpenAI answers 400 where we answer 422).
EXPECTED_ON_JSON: dict[str, tuple[int, str]] = {
    "not UTF-8": (400, "not valid UTF-8 (byte 0xff at offset 1)"),
    "empty": (422, "the request body is empty"),
    "a JSON array": (422, ""),
    "JSON null": (422, ""),
    "a form where JSON is expected": (415, "takes a JSON body"),
    "plain text": (415, "'text/plain'"),
    "truncated multipart": (415, "'multipart/form-data'"),
    "multipart without a boundary": (415, "'multipart/form-data'"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module (building one takes about a second). All its requests come
    from one address: the rate limit is raised above their number so none answers 429."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("bad-bodies") / "data",
        max_new_tokens=24,
        rate_limit_per_minute=1000,
        _env_file=None,
    )  # type: ignore[call-arg]
    resources = Resources(settings=settings, llm=fake_chat_model(), retriever=FakeRetriever())
    with TestClient(create_app(settings, resources), raise_server_exceptions=False) as c:
        yield c


def message_of(response: Any, family: str) -> str:
    body = response.json()
    if family == "openai":
        assert set(body["error"]) == {"message", "type", "code", "param"}
        assert body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])
    assert "detail" in body and "error" not in body
    return str(body["detail"])


@pytest.mark.parametrize("kind", BAD_BODIES)
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_json_route_names_what_is_wrong_with_the_body(
    client: TestClient, route: str, kind: str
) -> None:
    body, headers = BAD_BODIES[kind]
    response = client.post(route, content=body, headers=headers)
    family = JSON_ROUTES[route]
    status, words = EXPECTED_ON_JSON[kind]
    if family == "openai" and status == 422:
        status = 400
    assert response.status_code == status, response.text
    message = message_of(response, family)
    assert words in message, message
    if kind in ("a JSON array", "JSON null"):
        assert "object" in message or "dictionary" in message, message


@pytest.mark.parametrize(
    ("route", "kind", "status", "words"),
    [
        ("/documents", "a JSON object", 415, "takes a form (Content-Type: multipart/form-data)"),
        ("/documents", "a form where multipart is expected", 415, "'application/x-www-form"),
        ("/documents", "no content type", 415, "Content-Type is none"),
        ("/documents", "truncated multipart", 422, "files"),
        ("/documents", "multipart without a boundary", 400, "boundary"),
        ("/documents", "multipart without files", 422, "files"),
        ("/login", "a JSON object", 415, "takes a form"),
        ("/login", "plain text", 415, "'text/plain'"),
        ("/login", "multipart without a boundary", 400, "boundary"),
        ("/login", "a form without its key", 422, "key"),
    ],
)
def test_a_form_route_names_what_is_wrong_with_the_body(
    client: TestClient, route: str, kind: str, status: int, words: str
) -> None:
    bodies = {
        **BAD_BODIES,
        "a JSON object": (b'{"key": "k"}', JSON),
        "a form where multipart is expected": (b"username=ada", FORM),
        "no content type": (b"username=ada", {}),
        "multipart without files": (
            b'--XYZ\r\nContent-Disposition: form-data; name="metadata"\r\n\r\nnull\r\n'
            b'--XYZ\r\nContent-Disposition: form-data; name="username"\r\n\r\nnull\r\n--XYZ--\r\n',
            MULTIPART,
        ),
        "a form without its key": (b"next=/", FORM),
    }
    body, headers = bodies[kind]
    response = client.post(route, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert words in response.text


def test_the_openai_route_reports_invalid_utf8_as_openai_does(client: TestClient) -> None:
    """The issue's case: this body answered 500 with a UnicodeDecodeError in the log."""
    response = client.post("/v1/chat/completions", content=b"+\xff\\", headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("the request body is not valid UTF-8")
