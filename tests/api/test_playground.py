"""The playground's side of each route, in process (fake model): schemas it can render,
the text view `stream_log` serves, refusals before readiness, and sign-in with API keys.

A real browser drives the same pages in tests/api/test_playground_browser.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from fastapi.testclient import TestClient

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FAKE_ANSWER, FakeRetriever, fake_chat_model, sse_events
from tests.utils.index_states import unreadable_index

ROUTES = ["simple", "formatted", "history", "rag", "filtered_rag", "chat", "retrieve"]


def minimal_input(route: str) -> dict[str, Any]:
    if route == "retrieve":
        return {"query": "temporary files"}
    if route in ("simple", "formatted"):
        return {"question": "temporary files?"}
    return {"question": "temporary files?", "username": "ada"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    resources = Resources(settings=settings, llm=fake_chat_model(), retriever=FakeRetriever())
    with TestClient(create_app(settings, resources)) as test_client:
        yield test_client


def stream_log_state(body: str) -> dict[str, Any]:
    """The run state the playground rebuilds from `stream_log`'s JSON patches."""
    state: Any = None
    for event in sse_events(body):
        if event.get("event") == "data":
            state = jsonpatch.apply_patch(state or {}, json.loads(event["data"])["ops"])
    assert state is not None, body[:500]
    return state


def nulls(schema: Any, where: str = "") -> list[str]:
    """Every place a schema offers null: a null type, or a null default."""
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "null" or "null" in (schema.get("type") or []):
            found.append(where or "/")
        if "default" in schema and schema["default"] is None:
            found.append(f"{where}/default")
        for key, value in schema.items():
            found += nulls(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += nulls(value, f"{where}/{index}")
    return found


@pytest.mark.parametrize("route", ROUTES)
def test_input_schema_offers_no_null_to_the_form_renderer(
    shared_client: TestClient, route: str
) -> None:
    served = shared_client.get(f"/{route}/input_schema").json()
    page = shared_client.get(f"/{route}/playground/").text
    inlined = json.loads(re.search(r"window\.INPUT_SCHEMA = (\{.*?\});?\s*$", page, re.M)[1])
    assert served == inlined
    assert served["properties"] and nulls(served) == []


def test_optional_fields_still_take_null_and_omission(client: TestClient) -> None:
    payload = {"question": "hi", "username": "ada", "session_id": None, "k": None, "filter": None}
    assert client.post("/chat/invoke", json={"input": payload}).status_code == 200
    assert client.post("/chat/invoke", json={"input": minimal_input("chat")}).status_code == 200


def test_chat_stream_log_is_the_answer_as_text_then_the_sources(client: TestClient) -> None:
    response = client.post("/chat/stream_log", json={"input": minimal_input("chat")})
    assert response.status_code == 200, response.text
    chunks = stream_log_state(response.text)["streamed_output"]
    assert len(chunks) > 3 and all(isinstance(chunk, str) for chunk in chunks)
    text = "".join(chunks)
    assert text.startswith(FAKE_ANSWER)
    assert "Sources:\n[1] tempfile · library/tempfile.html (score 0.90)\n[2] evil" in text


@pytest.mark.parametrize("route", ["simple", "formatted", "history"])
def test_stages_without_sources_show_only_the_answer(client: TestClient, route: str) -> None:
    response = client.post(f"/{route}/stream_log", json={"input": minimal_input(route)})
    assert "".join(stream_log_state(response.text)["streamed_output"]) == FAKE_ANSWER


def test_retrieve_stream_log_lists_the_scored_chunks(client: TestClient) -> None:
    response = client.post("/retrieve/stream_log", json={"input": minimal_input("retrieve")})
    text = "".join(stream_log_state(response.text)["streamed_output"])
    assert text.startswith("[1] tempfile · library/tempfile.html (score 0.90)\nUse tempfile")
    assert "\n\n[2] evil · evil.md (score 0.50)" in text


def test_a_failure_is_shown_in_the_playground_s_text(settings: Settings) -> None:
    # An index that cannot be read: the graph's retrieval fails with IndexUnavailable.
    unreadable_index(settings.index_dir)
    with TestClient(create_app(settings, Resources(settings=settings, llm=fake_chat_model()))) as c:
        response = c.post("/chat/stream_log", json={"input": minimal_input("chat")})
    text = "".join(stream_log_state(response.text)["streamed_output"])
    assert text.startswith("\n\n[error 503] the document index is unavailable: index at")
    assert "is unreadable" in text


@pytest.mark.parametrize("endpoint", ["invoke", "stream", "stream_events", "stream_log", "batch"])
def test_a_malformed_filter_is_a_422_before_the_index_is_checked(
    settings: Settings, endpoint: str
) -> None:
    bad = {**minimal_input("chat"), "filter": {"year": {"$regex": "20.."}}}
    body = {"inputs": [bad]} if endpoint == "batch" else {"input": bad}
    unreadable_index(settings.index_dir)
    resources = Resources(settings=settings, llm=fake_chat_model())
    with TestClient(create_app(settings, resources)) as c:
        response = c.post(f"/chat/{endpoint}", json=body)
        assert response.status_code == 422, response.text
        assert "unknown filter operator '$regex' at 'year'" in response.text
        good = c.post("/chat/invoke", json={"input": minimal_input("chat")})
    assert good.status_code == 503  # a well-formed request still meets the unreadable index


def keyed_client(tmp_path: Path) -> TestClient:
    settings = Settings(
        data_dir=tmp_path / "data", api_keys="ada:key-ada", rate_limit_per_minute=0, _env_file=None
    )  # type: ignore[call-arg]
    resources = Resources(settings=settings, llm=fake_chat_model(), retriever=FakeRetriever())
    return TestClient(create_app(settings, resources), follow_redirects=False)


def test_with_api_keys_a_browser_is_sent_to_sign_in_and_back(tmp_path: Path) -> None:
    with keyed_client(tmp_path) as c:
        page = c.get("/chat/playground/")
        assert page.status_code == 303 and page.headers["location"] == (
            "/login?next=/chat/playground/"
        )
        assert "API key" in c.get("/login", params={"next": "/chat/playground/"}).text
        refused = c.post("/login", data={"key": "wrong", "next": "/chat/playground/"})
        assert refused.status_code == 401 and "not valid" in refused.text
        assert "ragchat_key" not in refused.headers.get("set-cookie", "")
        signed_in = c.post("/login", data={"key": "key-ada", "next": "/chat/playground/"})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/chat/playground/"
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/chat/playground/").status_code == 200
        run = c.post("/chat/stream_log", json={"input": {"question": "hi"}})
        assert run.status_code == 200 and "Sources:" in run.text
        c.post("/logout")
        assert c.post("/chat/stream_log", json={"input": {"question": "hi"}}).status_code == 401


def test_without_a_key_the_api_answers_401_not_a_redirect(tmp_path: Path) -> None:
    with keyed_client(tmp_path) as c:
        assert c.post("/chat/stream_log", json={"input": {"question": "hi"}}).status_code == 401
        assert c.get("/chat/input_schema").status_code == 401
        assert c.get("/health").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_sign_in_never_redirects_off_the_server(tmp_path: Path, target: str) -> None:
    with keyed_client(tmp_path) as c:
        response = c.post("/login", data={"key": "key-ada", "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_sign_in_is_not_offered_without_api_keys(shared_client: TestClient) -> None:
    assert shared_client.get("/login").status_code == 404
    assert shared_client.post("/login", data={"key": "x"}).status_code == 404


def test_sources_text_lists_each_page_once_with_its_chunk_numbers() -> None:
    from api.playground import sources_text

    sources = [
        {"number": 1, "source": "a.html", "title": "A", "score": 0.9},
        {"number": 2, "source": "b.html", "title": "B", "score": 0.8},
        {"number": 3, "source": "a.html", "title": "A", "score": 0.7},
    ]
    assert sources_text(sources) == (
        "\n\nSources:\n[1, 3] A · a.html (score 0.90)\n[2] B · b.html (score 0.80)"
    )
    assert sources_text([]) == "\n\nSources: none found."
