"""The Agent Protocol routes in process, with a fake chat model and retriever (logic only).

The same routes through `langgraph_sdk` and `RemoteGraph` against uvicorn:
tests/integration/test_agent_protocol_live.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.agent_protocol.registry import RunRegistry
from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FAKE_ANSWER, FakeRetriever, fake_chat_model, sse_events

ASK = {"messages": [{"role": "user", "content": "Where is Paris?"}]}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    resources = Resources(settings=settings, llm=fake_chat_model(), retriever=FakeRetriever())
    with TestClient(create_app(settings, resources)) as test_client:
        yield test_client


def run(client: TestClient, path: str, **body: Any) -> Any:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def new_thread(client: TestClient, **body: Any) -> str:
    return str(run(client, "/threads", **body)["thread_id"])


def test_a_stream_is_server_sent_events_the_sdk_parses(client: TestClient) -> None:
    tid = new_thread(client)
    body = {"assistant_id": "chat", "input": ASK, "stream_mode": ["messages-tuple", "values"]}
    response = client.post(f"/threads/{tid}/runs/stream", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    run_id = json.loads(events[0]["data"])["run_id"]
    assert events[0]["event"] == "metadata"
    assert response.headers["content-location"] == f"/threads/{tid}/runs/{run_id}"
    tokens = [json.loads(e["data"]) for e in events if e["event"] == "messages"]
    answer = "".join(chunk["content"] for chunk, _meta in tokens)
    assert answer.startswith(FAKE_ANSWER)  # then a citation the fake model left out
    final = json.loads([e for e in events if e["event"] == "values"][-1]["data"])
    assert final["answer"] == answer and [s["number"] for s in final["sources"]] == [1, 2]


def test_the_last_user_message_is_the_question_and_earlier_ones_a_stateless_history(
    client: TestClient,
) -> None:
    conversation = [
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello Ada."}]},
        {"role": "user", "content": "Who am I?"},
    ]
    final = run(client, "/runs/wait", assistant_id="history", input={"messages": conversation})
    assert final["question"] == "Who am I?"
    assert [m["content"] for m in final["messages"]] == [
        "I am Ada.",
        "Hello Ada.",
        "Who am I?",
        FAKE_ANSWER,
    ]
    assert run(client, "/threads/search") == []  # nothing was stored


def test_thread_history_has_one_state_per_turn_and_each_checkpoint_can_be_read(
    client: TestClient,
) -> None:
    tid = new_thread(client)
    for question in ("one?", "two?"):
        run(
            client,
            f"/threads/{tid}/runs/wait",
            assistant_id="history",
            input={"question": question},
        )
    history = run(client, f"/threads/{tid}/history", limit=5)
    assert [len(state["values"]["messages"]) for state in history] == [4, 2, 0]
    middle = history[1]["checkpoint"]
    again = run(client, f"/threads/{tid}/state/checkpoint", checkpoint=middle)
    assert again["values"] == history[1]["values"]
    missing = client.post(
        f"/threads/{tid}/state/checkpoint", json={"checkpoint": {"checkpoint_id": "x"}}
    )
    assert missing.status_code == 404
    thread = client.get(f"/threads/{tid}").json()
    assert thread["metadata"]["graph_id"] == "history" and thread["status"] == "idle"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"multitask_strategy": "interrupt"}, "multitask_strategy"),
        ({"on_disconnect": "later"}, "on_disconnect"),
        ({"command": {"resume": "yes"}}, "command"),
        ({"checkpoint_id": "abc"}, "checkpoint"),
        ({"stream_mode": ["events", "values"]}, "events"),
        ({"stream_mode": "debug"}, "stream_mode"),
        ({"input": {"messages": [{"role": "assistant", "content": "hi"}]}}, "no user message"),
        ({"input": {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}}, "text"),
        ({"input": {"question": "hi", "nonsense": 1}}, "nonsense"),
        ({"input": {}}, "question"),
        ({"metadata": {"x": "y" * 5000}}, "metadata"),
    ],
)
def test_what_ragchat_cannot_do_is_refused_with_422(
    shared_client: TestClient, change: dict[str, Any], named: str
) -> None:
    body = {"assistant_id": "chat", "input": ASK, **change}
    response = shared_client.post("/runs/stream", json=body)
    assert response.status_code == 422, response.text
    assert named in response.text


def test_thread_ids_are_session_ids(client: TestClient) -> None:
    assert client.get("/threads/not a session id").status_code == 422
    assert client.post("/threads", json={"thread_id": "x" * 65}).status_code == 422
    assert client.get("/threads/unknown-thread").status_code == 404
    assert (
        client.post(
            "/threads/unknown-thread/runs/wait", json={"assistant_id": "simple", "input": ASK}
        ).status_code
        == 404
    )
    created = client.post(
        "/threads/unknown-thread/runs/wait",
        json={"assistant_id": "simple", "input": ASK, "if_not_exists": "create"},
    )
    assert created.status_code == 200


def test_deleting_the_session_deletes_the_thread_and_its_metadata(client: TestClient) -> None:
    tid = new_thread(client, thread_id="shared-id", metadata={"tag": "old"})
    deleted = client.delete(f"/sessions/{tid}", params={"username": "anonymous"})
    assert deleted.status_code == 204
    assert client.get(f"/threads/{tid}").status_code == 404
    assert new_thread(client, thread_id="shared-id") == "shared-id"
    assert client.get("/threads/shared-id").json()["metadata"] == {}


def test_a_run_cancelled_before_it_starts_still_ends_its_stream() -> None:
    async def scenario() -> list[Any]:
        async def never() -> AsyncIterator[tuple[str, Any]]:
            await asyncio.sleep(3600)
            yield "values", {}

        registry = RunRegistry()
        run = registry.start("ada", "t1", never())
        assert registry.busy("ada", "t1") and not registry.busy("bob", "t1")
        await registry.cancel("ada", "t1", run.run_id, wait=False)
        parts = [part async for part in registry.consume(run)]
        assert not registry.busy("ada", "t1")
        return parts

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == []


def test_the_servers_guards_apply_key_rate_limit_and_body_size(settings: Settings) -> None:
    guarded = settings.model_copy(
        update={"rate_limit_per_minute": 3, "api_keys": SecretStr("ada:sk-ada-1")}
    )
    resources = Resources(settings=guarded, llm=fake_chat_model(), retriever=FakeRetriever())
    with TestClient(create_app(guarded, resources)) as client:
        assert client.post("/threads/search", json={}).status_code == 401
        key = {"X-Api-Key": "sk-ada-1"}
        too_big = {"assistant_id": "simple", "input": {"question": "x" * guarded.max_body_bytes}}
        assert client.post("/runs/wait", json=too_big, headers=key).status_code == 413
        codes = [client.post("/threads/search", json={}, headers=key) for _ in range(4)]
        assert [r.status_code for r in codes][-1] == 429
        assert "rate limit" in codes[-1].json()["detail"] and "retry-after" in codes[-1].headers


def test_agent_chat_uis_request_runs_and_its_thread_is_listed_by_graph(client: TestClient) -> None:
    """The body agent-chat-ui's useStream sends: typed content blocks, its own message id,
    values only, subgraphs, a resumable stream that continues when the page leaves."""
    tid = new_thread(client)
    human = {"id": "ui-1", "type": "human", "content": [{"type": "text", "text": "Hi there"}]}
    body = {
        "assistant_id": "chat",
        "input": {"messages": [human]},
        "stream_mode": ["values"],
        "stream_subgraphs": True,
        "stream_resumable": True,
        "on_disconnect": "continue",
    }
    response = client.post(f"/threads/{tid}/runs/stream", json=body)
    assert response.status_code == 200, response.text
    values = [json.loads(e["data"]) for e in sse_events(response.text) if e["event"] == "values"]
    assert values[-1]["messages"][0]["id"] == "ui-1"
    assert [m["type"] for m in values[-1]["messages"]] == ["human", "ai"]
    listed = run(client, "/threads/search", metadata={"graph_id": "chat"}, limit=100)
    assert [t["thread_id"] for t in listed] == [tid]
