"""`stream_log` is safe to serve: payloads shaped like serialized LangChain objects
(GHSA-c67j-w6g6-q2cm and GHSA-pjwx-r37v-7724) revive nothing and leak no secret.

`stream_log` logs every child run, and langchain-core passes those logs through its
`load()`, which turns a dict with an `lc` key into a live object (a secret read from the
environment, a prompt or message built from attacker kwargs). What stops it here:
every input field is strictly typed, the one free-form field (`filter`) accepts only
scalars under field names, and langchain-core >= 1.3.3 reads no secret from the
environment and revives only message classes. Each payload goes everywhere a client can
put it, on every endpoint; the server's environment holds a sentinel secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FakeRetriever, fake_chat_model, sse_events

SENTINEL = "sk-SENTINEL-do-not-leak-4711"
MARKER = "REVIVED-MARKER-0815"
PAYLOADS = {
    "secret": {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]},
    "secret, one-letter name": {"lc": 1, "type": "secret", "id": "X"},
    "prompt constructor": {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "prompts", "prompt", "PromptTemplate"],
        "kwargs": {"template": MARKER + "{x}", "input_variables": ["x"]},
    },
    "message constructor": {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "schema", "messages", "AIMessage"],
        "kwargs": {"content": MARKER},
    },
    "flat constructor": {"lc": 1, "type": "constructor", "id": "AIMessage", "content": MARKER},
}
ENDPOINTS = ["invoke", "batch", "stream", "stream_events", "stream_log"]


def placements(payload: dict[str, Any], username: str = "ada") -> dict[str, dict[str, Any]]:
    """Every place in a request body a client controls, each holding `payload`."""
    ask = {"question": "temporary files?", "username": username}
    return {
        "as the input": {"input": payload},
        "as the filter": {"input": {**ask, "filter": payload}},
        "under a filter field": {"input": {**ask, "filter": {"topic": payload}}},
        "in a $in list": {"input": {**ask, "filter": {"topic": {"$in": [payload]}}}},
        "as an extra field": {"input": {**ask, "extra": payload}},
        "as the question": {"input": {**ask, "question": payload}},
        "in config.configurable": {"input": ask, "config": {"configurable": {"x": payload}}},
        "in config.metadata": {"input": ask, "config": {"metadata": {"x": payload}}},
        "in kwargs": {"input": ask, "kwargs": {"x": payload}},
    }


@pytest.fixture(scope="module")
def client(module_settings: Settings) -> Iterator[TestClient]:
    """One app for the module: each payload test is a user of its own (the rate limit is per
    user), and the environment holds the sentinel for as long as the app serves."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_API_KEY", SENTINEL)
        env.setenv("X", SENTINEL)
        resources = Resources(
            settings=module_settings, llm=fake_chat_model(), retriever=FakeRetriever()
        )
        with TestClient(create_app(module_settings, resources)) as test_client:
            yield test_client


def revived(node: Any) -> list[Any]:
    """Objects built from the payloads, as they look once serialized: a message whose
    content is the marker, or a prompt template carrying it (echoes keep their `lc`)."""
    found = []
    if isinstance(node, dict):
        if "lc" not in node and (
            node.get("content") == MARKER
            or (isinstance(node.get("template"), str) and MARKER in node["template"])
        ):
            found.append(node)
        for value in node.values():
            found += revived(value)
    elif isinstance(node, list):
        for value in node:
            found += revived(value)
    return found


def data_events(body: str) -> list[Any]:
    return [json.loads(e["data"]) for e in sse_events(body) if "data" in e and e["data"]]


@pytest.mark.parametrize("name", list(PAYLOADS))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_serialized_object_payloads_revive_nothing_and_leak_nothing(
    client: TestClient, name: str, endpoint: str
) -> None:
    outcomes = {}
    username = f"ada-{endpoint}-{list(PAYLOADS).index(name)}"
    for where, body in placements(PAYLOADS[name], username).items():
        if endpoint == "batch":
            body = {**body, "inputs": [body["input"]]}
            body.pop("input")
        response = client.post(f"/chat/{endpoint}", json=body)
        outcomes[where] = response.status_code
        assert response.status_code in (200, 422), (where, response.status_code, response.text)
        assert SENTINEL not in response.text, where
        parsed = data_events(response.text) if "event:" in response.text else [response.json()]
        assert revived(parsed) == [], (where, revived(parsed))
    # The first line of defence: strict input types refuse every shaped dict outright,
    # except where a client may put free config (which the server replaces) or scalars.
    assert outcomes["as the input"] == outcomes["as an extra field"] == 422
    assert outcomes["as the question"] == outcomes["under a filter field"] == 422
    assert outcomes["in config.configurable"] == 200  # replaced by the server's identity


def test_stream_log_keeps_the_guards_of_every_endpoint(tmp_path: Any) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        api_keys="ada:key-ada",
        rate_limit_per_minute=2,
        max_body_bytes=2048,
        _env_file=None,
    )  # type: ignore[call-arg]
    resources = Resources(settings=settings, llm=fake_chat_model(), retriever=FakeRetriever())
    ask = {"input": {"question": "hi"}}
    key = {"Authorization": "Bearer key-ada"}
    with TestClient(create_app(settings, resources)) as c:
        assert c.post("/chat/stream_log", json=ask).status_code == 401
        big = {"input": {"question": "x" * 3000}}
        assert c.post("/chat/stream_log", json=big, headers=key).status_code == 413
        bad_kwargs = {**ask, "kwargs": []}
        assert c.post("/chat/stream_log", json=bad_kwargs, headers=key).status_code == 422
        assert c.post("/chat/stream_log", json=ask, headers=key).status_code == 200
        assert c.post("/chat/stream_log", json=ask, headers=key).status_code == 429
