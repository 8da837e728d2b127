"""Auth, spoofing and limits: every attempt fails closed with a clear status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FakeRetriever, fake_chat_model, sse_events

ALICE = {"Authorization": "Bearer key-alice-123"}
BOB = {"Authorization": "Bearer key-bob-456"}


@pytest.fixture
def secured(settings: Settings) -> Iterator[TestClient]:
    keyed = settings.model_copy(
        update={"api_keys": SecretStr("alice:key-alice-123,bob:key-bob-456")}
    )
    with TestClient(create_app(keyed, Resources(settings=keyed, llm=fake_chat_model()))) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic a2V5LWFsaWNlLTEyMw=="}],
)
def test_missing_or_invalid_keys_are_401(secured: TestClient, headers: dict[str, str]) -> None:
    for method, path in [
        ("post", "/simple/invoke"),
        ("get", "/sessions"),
        ("get", "/simple/input_schema"),
        ("post", "/chat/stream_log"),
    ]:
        kwargs = {"json": {"input": {"question": "q"}}} if method == "post" else {}
        response = getattr(secured, method)(path, headers=headers, **kwargs)
        assert response.status_code == 401, (path, response.text)
        assert "key-alice" not in response.text
    # A browser opening the playground is sent to sign in instead.
    page = secured.get("/chat/playground/", headers=headers, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/chat/playground/"


def test_open_routes_need_no_key(secured: TestClient) -> None:
    assert secured.get("/").status_code == 200
    assert secured.get("/health").json()["auth"] is True


def test_the_key_decides_the_user_not_the_body(secured: TestClient) -> None:
    secured.post(
        "/history/invoke", headers=ALICE, json={"input": {"question": "alice-private-note"}}
    )
    # Bob claims to be alice in the body and in config: he still gets his own history.
    response = secured.post(
        "/history/stream_events",
        headers=BOB,
        json={
            "input": {"question": "what did I say?", "username": "alice"},
            "config": {"configurable": {"user_id": "alice"}},
        },
    )
    assert response.status_code == 200
    events = [json.loads(e["data"]) for e in sse_events(response.text) if e.get("event") == "data"]
    assert "alice-private-note" not in json.dumps(events)
    bob_sessions = secured.get("/sessions", headers=BOB, params={"username": "alice"}).json()
    assert bob_sessions and bob_sessions[0]["title"] == "what did I say?"
    alice_sessions = secured.get("/sessions", headers=ALICE).json()
    assert alice_sessions[0]["title"] == "alice-private-note"


def test_key_file_works_and_is_not_echoed(tmp_path: Path, settings: Settings) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# users\ncarol:carol-key-789\n")
    keyed = settings.model_copy(update={"api_keys_file": keys})
    with TestClient(create_app(keyed, Resources(settings=keyed, llm=fake_chat_model()))) as client:
        ok = client.post(
            "/simple/invoke",
            headers={"Authorization": "Bearer carol-key-789"},
            json={"input": {"question": "q"}},
        )
        assert ok.status_code == 200
    keys.write_text("carol-without-colon-secret\n")
    with pytest.raises(Exception) as failure:
        create_app(keyed)
    assert "carol-without-colon-secret" not in str(failure.value)


def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_minute": 3})
    with TestClient(create_app(limited, Resources(settings=limited, llm=fake_chat_model()))) as c:
        codes = [
            c.post("/history/invoke", json={"input": {"question": "q", "username": "rl"}})
            for _ in range(5)
        ]
        assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
        assert int(codes[-1].headers["retry-after"]) >= 1
        other = c.post("/history/invoke", json={"input": {"question": "q", "username": "other"}})
        assert other.status_code == 200  # the budget is per user


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate", "bell\x07"])
def test_control_characters_and_surrogates_are_422(settings: Settings, text: str) -> None:
    with TestClient(create_app(settings, Resources(settings=settings, llm=fake_chat_model()))) as c:
        body = json.dumps({"input": {"question": text, "username": "u"}})
        response = c.post(
            "/history/invoke", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text


def test_k_over_the_limit_is_422(settings: Settings) -> None:
    resources = Resources(settings=settings, llm=fake_chat_model(), retriever=FakeRetriever())
    with TestClient(create_app(settings, resources)) as c:
        response = c.post(
            "/rag/invoke",
            json={"input": {"question": "q", "username": "u", "k": settings.max_k + 1}},
        )
        assert response.status_code == 422
        assert str(settings.max_k) in response.text


def test_rate_limit_is_shared_through_redis(settings: Settings) -> None:
    """Two app instances (two replicas) draw from one budget when REDIS_URL is set."""
    import uuid

    shared = settings.model_copy(
        update={"rate_limit_per_minute": 2, "redis_url": "redis://127.0.0.1:6379/15"}
    )
    user = f"redis-{uuid.uuid4().hex[:8]}"
    payload = {"input": {"question": "q", "username": user}}
    replicas = [
        create_app(shared, Resources(settings=shared, llm=fake_chat_model())) for _ in range(2)
    ]
    with TestClient(replicas[0]) as first, TestClient(replicas[1]) as second:
        codes = [
            first.post("/history/invoke", json=payload).status_code,
            second.post("/history/invoke", json=payload).status_code,
            first.post("/history/invoke", json=payload).status_code,
            second.post("/history/invoke", json=payload).status_code,
        ]
    assert codes == [200, 200, 429, 429]


def test_form_and_multipart_bodies_pass_the_rate_limit_and_count_against_it(
    settings: Settings,
) -> None:
    """The limiter never re-reads a form body the route has consumed (it was a 500)."""
    limited = settings.model_copy(update={"rate_limit_per_minute": 2, "document_workers": 0})
    note = ("note.md", b"# Note\n\nThe answer is 42.\n", "text/markdown")
    with TestClient(create_app(limited, Resources(settings=limited, llm=fake_chat_model()))) as c:
        first = c.post("/documents", files=[("files", note)], data={"username": "ada"})
        login = c.post("/login", data={"next": "/"})
        third = c.post("/documents", files=[("files", note)])
    assert first.status_code == 202, first.text
    assert login.status_code < 500, login.text  # no keys: the form answers, it does not crash
    assert third.status_code == 429  # keyed by the client's address: the budget of two is spent
