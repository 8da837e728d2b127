"""/history and the session REST routes in process, with a fake chat model (logic only)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FAKE_ANSWER, BreaksMidStream, fake_chat_model, sse_events


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, Resources(settings=settings, llm=fake_chat_model()))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(module_settings: Settings) -> Iterator[TestClient]:
    """One app for the requests refused before anything is stored."""
    app = create_app(module_settings, Resources(settings=module_settings, llm=fake_chat_model()))
    with TestClient(app) as test_client:
        yield test_client


def prompt_of(client: TestClient, payload: dict[str, Any], **extra: Any) -> str:
    """The messages the chat model received, from LangServe's stream_events."""
    response = client.post("/history/stream_events", json={"input": payload, **extra})
    assert response.status_code == 200, response.text
    events = [json.loads(e["data"]) for e in sse_events(response.text) if e.get("event") == "data"]
    starts = [e for e in events if e["event"] == "on_chat_model_start"]
    assert len(starts) == 1
    return json.dumps(starts[0]["data"]["input"])


def test_second_turn_prompt_contains_the_first_turn(client: TestClient) -> None:
    first = client.post(
        "/history/invoke",
        json={"input": {"question": "My name is Ada and I like owls.", "username": "ada"}},
    )
    assert first.status_code == 200, first.text
    output = first.json()["output"]
    assert output["answer"] == FAKE_ANSWER and output["message_id"]
    assert output["session_id"] == "default"
    prompt = prompt_of(client, {"question": "What do I like?", "username": "ada"})
    assert "I like owls" in prompt and FAKE_ANSWER in prompt


def test_stream_yields_answer_chunks_then_the_message_id(client: TestClient) -> None:
    response = client.post("/history/stream", json={"input": {"question": "hi", "username": "bo"}})
    chunks = [json.loads(e["data"]) for e in sse_events(response.text) if e.get("event") == "data"]
    answer = "".join(c.get("answer", "") for c in chunks)
    assert answer == FAKE_ANSWER and len(chunks) > 3
    assert set(chunks[-1]) == {"message_id", "session_id"}


def test_users_with_the_same_session_id_never_see_each_other(client: TestClient) -> None:
    for user, secret in [("alice", "alice-secret-42"), ("bob", "bob-secret-77")]:
        response = client.post(
            "/history/invoke",
            json={
                "input": {
                    "question": f"remember {secret}",
                    "username": user,
                    "session_id": "shared",
                }
            },
        )
        assert response.status_code == 200
    bob_prompt = prompt_of(client, {"question": "what?", "username": "bob", "session_id": "shared"})
    assert "bob-secret-77" in bob_prompt and "alice-secret-42" not in bob_prompt
    alice_msgs = client.get("/sessions/shared/messages", params={"username": "alice"}).json()
    assert "alice-secret-42" in json.dumps(alice_msgs) and "bob-secret" not in json.dumps(
        alice_msgs
    )


def test_client_sent_user_id_in_config_is_ignored(client: TestClient) -> None:
    client.post("/history/invoke", json={"input": {"question": "victim-secret", "username": "v"}})
    prompt = prompt_of(
        client,
        {"question": "leak?", "username": "mallory"},
        config={"configurable": {"user_id": "v"}},
    )
    assert "victim-secret" not in prompt


def test_sessions_list_read_delete(client: TestClient) -> None:
    client.post(
        "/history/invoke",
        json={"input": {"question": "First question here", "username": "cy", "session_id": "s1"}},
    )
    sessions = client.get("/sessions", params={"username": "cy"}).json()
    assert [(s["id"], s["title"], s["message_count"]) for s in sessions] == [
        ("s1", "First question here", 2)
    ]
    messages = client.get("/sessions/s1/messages", params={"username": "cy"}).json()
    assert [m["role"] for m in messages] == ["human", "ai"]
    assert client.get("/sessions/s1/messages", params={"username": "zed"}).status_code == 404
    assert client.delete("/sessions/s1", params={"username": "cy"}).status_code == 204
    assert client.get("/sessions/s1/messages", params={"username": "cy"}).status_code == 404
    created = client.post("/sessions", json={"username": "cy"})
    assert created.status_code == 201 and len(created.json()["id"]) >= 8


def test_feedback_is_stored_and_read_back(client: TestClient) -> None:
    output = client.post("/history/invoke", json={"input": {"question": "q", "username": "fi"}})
    message_id = output.json()["output"]["message_id"]
    response = client.post(
        "/feedback",
        json={"username": "fi", "message_id": message_id, "score": 1, "comment": "good"},
    )
    assert response.status_code == 200, response.text
    client.post("/feedback", json={"username": "fi", "message_id": message_id, "score": -1})
    answer = client.get("/sessions/default/messages", params={"username": "fi"}).json()[1]
    assert (answer["id"], answer["feedback_score"]) == (message_id, -1)
    stolen = client.post(
        "/feedback", json={"username": "other", "message_id": message_id, "score": 1}
    )
    assert stolen.status_code == 404


@pytest.mark.parametrize("username", ["", "x" * 65, "bad\x07name", " padded"])
def test_malformed_usernames_get_a_422(shared_client: TestClient, username: str) -> None:
    response = shared_client.post(
        "/history/invoke", json={"input": {"question": "q", "username": username}}
    )
    assert response.status_code == 422
    assert shared_client.get("/sessions", params={"username": username}).status_code == 422


def test_retries_with_one_request_id_are_stored_once(client: TestClient) -> None:
    payload = {"question": "once", "username": "ri", "request_id": "req-1"}
    for _ in range(3):
        assert client.post("/history/invoke", json={"input": payload}).status_code == 200
    messages = client.get("/sessions/default/messages", params={"username": "ri"}).json()
    assert len(messages) == 2


def test_failure_mid_stream_keeps_question_and_partial_answer(settings: Settings) -> None:
    broken = BreaksMidStream(messages=itertools.cycle([AIMessage(content="one two three four")]))
    app = create_app(settings, Resources(settings=settings, llm=broken))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/history/stream", json={"input": {"question": "q", "username": "e"}}
        )
        assert sse_events(response.text)[-1]["event"] == "error"
        messages = client.get("/sessions/default/messages", params={"username": "e"}).json()
    assert [m["role"] for m in messages] == ["human", "ai"]
    assert messages[1]["incomplete"] is True and messages[1]["content"] == "one "
