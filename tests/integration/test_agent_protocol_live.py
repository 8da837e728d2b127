"""LangGraph's own clients against a live uvicorn: `langgraph_sdk`'s async client and
`RemoteGraph`, over threads that are ragchat sessions (tests.api.agent_protocol_fakes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client

from tests.utils.postgres import temporary_database
from tests.utils.processes import backend

pytestmark = pytest.mark.integration

ASK = {"messages": [{"role": "user", "content": "Which pets sleep most of the day?"}]}


@contextmanager
def agent_backend(tmp: Path, factory: str = "live_app", **env: str) -> Iterator[str]:
    with backend(tmp, app=f"tests.api.agent_protocol_fakes:{factory}", **env) as url:
        yield url


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with agent_backend(tmp_path_factory.mktemp("agent")) as url:
        yield url


@pytest.fixture(scope="module")
def slow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with agent_backend(tmp_path_factory.mktemp("agent-slow"), factory="slow_app") as url:
        yield url


def client(url: str, **kwargs: Any) -> Any:
    return get_client(url=url, api_key=kwargs.pop("api_key", None), timeout=60, **kwargs)


def session_rows(url: str, thread_id: str, username: str = "anonymous") -> list[dict[str, Any]]:
    """The same conversation as the chat app reads it."""
    response = httpx.get(
        f"{url}/sessions/{thread_id}/messages", params={"username": username}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


async def refused(call: Any) -> int:
    """The status a call was refused with (the SDK raises typed errors or httpx's own)."""
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await call
    return caught.value.response.status_code


async def timed_stream(stream: Any) -> list[tuple[float, Any]]:
    return [(time.monotonic(), part) async for part in stream]


def test_a_thread_streams_tokens_keeps_its_turns_and_is_a_session(url: str) -> None:
    async def scenario() -> None:
        sdk = client(url)
        thread = await sdk.threads.create(metadata={"topic": "pets"})
        tid = thread["thread_id"]
        assert thread["status"] == "idle" and thread["metadata"] == {"topic": "pets"}
        parts = await timed_stream(
            sdk.runs.stream(tid, "chat", input=ASK, stream_mode=["messages-tuple", "values"])
        )
        events = [part.event for _, part in parts]
        assert events[0] == "metadata" and parts[0][1].data["run_id"]
        tokens = [(at, part.data) for at, part in parts if part.event == "messages"]
        assert len(tokens) > 2
        last_values = parts[max(i for i, e in enumerate(events) if e == "values")]
        # Tokens arrive one by one, before the final state (sent once the turn is stored).
        assert events.index("messages") < events.index("values", events.index("messages"))
        assert tokens[0][0] < last_values[0]
        streamed = "".join(chunk["content"] for _at, (chunk, _meta) in tokens)
        assert all(meta["langgraph_node"] == "generate" for _at, (_chunk, meta) in tokens)
        final = last_values[1].data
        assert final["answer"] == streamed and final["sources"][0]["number"] == 1
        assert [m["type"] for m in final["messages"]] == ["human", "ai"]

        state = await sdk.threads.get_state(tid)
        stored = state["values"]["messages"]
        assert [(m["type"], m["content"]) for m in stored] == [
            ("human", ASK["messages"][0]["content"]),
            ("ai", streamed),
        ]
        # The next turn continues the thread; runs/wait returns the final state.
        second = await sdk.runs.wait(tid, "chat", input={"question": "And which like walks?"})
        assert [m["type"] for m in second["messages"]] == ["human", "ai", "human", "ai"]
        history = await sdk.threads.get_history(tid)
        assert [len(s["values"]["messages"]) for s in history] == [4, 2, 0]
        assert (
            history[0]["checkpoint"]["checkpoint_id"] != history[1]["checkpoint"]["checkpoint_id"]
        )
        # The same rows as the chat app sees them.
        rows = session_rows(url, tid)
        assert [(r["role"], r["content"]) for r in rows] == [
            (m["type"], m["content"]) for m in second["messages"]
        ]
        assert rows[1]["id"] == stored[1]["id"]  # the stored answer, for /feedback

    asyncio.run(scenario())


def test_a_session_of_the_chat_app_continues_as_a_thread_and_back(url: str) -> None:
    async def scenario() -> None:
        # The chat app's way: a session, then a /chat turn through LangServe.
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            created = await http.post(
                "/sessions", json={"username": "ada", "session_id": "from-app"}
            )
            assert created.status_code == 201
            turn = await http.post(
                "/chat/invoke",
                json={
                    "input": {
                        "question": "Tell me about cats",
                        "username": "ada",
                        "session_id": "from-app",
                    }
                },
            )
            assert turn.status_code == 200, turn.text
        sdk = client(url, headers={"X-Ragchat-User": "ada"})
        state = await sdk.threads.get_state("from-app")
        assert [m["content"] for m in state["values"]["messages"]][0] == "Tell me about cats"
        await sdk.runs.wait("from-app", "chat", input={"question": "And dogs?"})
        rows = session_rows(url, "from-app", "ada")
        assert [r["content"] for r in rows][::2] == ["Tell me about cats", "And dogs?"]
        # Another user (no header: anonymous) does not see it.
        assert await refused(client(url).threads.get("from-app")) == 404

    asyncio.run(scenario())


def test_threads_are_searched_by_metadata_and_deleted(url: str) -> None:
    async def scenario() -> None:
        sdk = client(url, headers={"X-Ragchat-User": "searcher"})
        first = await sdk.threads.create(metadata={"project": "a"})
        second = await sdk.threads.create(metadata={"project": "b"})
        found = await sdk.threads.search(metadata={"project": "a"})
        assert [t["thread_id"] for t in found] == [first["thread_id"]]
        both = {t["thread_id"] for t in await sdk.threads.search(limit=10)}
        assert {first["thread_id"], second["thread_id"]} <= both
        assert await refused(sdk.threads.create(thread_id=first["thread_id"])) == 409
        await sdk.threads.delete(first["thread_id"])
        assert await refused(sdk.threads.get(first["thread_id"])) == 404
        assert await sdk.threads.search(metadata={"project": "a"}) == []

    asyncio.run(scenario())


def test_stateless_runs_store_nothing_and_stream_updates_and_events(url: str) -> None:
    async def scenario() -> None:
        sdk = client(url, headers={"X-Ragchat-User": "stateless"})
        conversation = {
            "messages": [
                {"role": "user", "content": "My cat is called Tom."},
                {"role": "assistant", "content": "Nice name."},
                {"role": "user", "content": "What is my cat called?"},
            ]
        }
        updates = [
            p
            async for p in sdk.runs.stream(None, "chat", input=conversation, stream_mode="updates")
        ]
        nodes = [next(iter(p.data)) for p in updates if p.event == "updates"]
        assert nodes == ["condense", "retrieve", "focus", "generate"]  # no load, no save
        events = [
            p
            async for p in sdk.runs.stream(
                None, "simple", input={"question": "Hi"}, stream_mode="events"
            )
        ]
        kinds = {p.data["event"] for p in events if p.event == "events"}
        assert "on_chat_model_stream" in kinds
        assert await sdk.threads.search() == []
        assert await refused(sdk.runs.wait(None, "chat", input={"question": "x" * 5000})) == 422
        assert await refused(sdk.runs.wait(None, "no-such-graph", input={"question": "Hi"})) == 404
        assistants = await sdk.assistants.search()
        assert {a["graph_id"] for a in assistants} == {
            "simple",
            "formatted",
            "history",
            "rag",
            "filtered_rag",
            "chat",
        }
        chat = await sdk.assistants.get("chat")
        assert (await sdk.assistants.get(chat["assistant_id"]))["graph_id"] == "chat"

    asyncio.run(scenario())


def test_remote_graph_invokes_and_streams_on_a_thread(url: str) -> None:
    async def scenario() -> None:
        remote = RemoteGraph("chat", url=url, api_key=None)
        config = {"configurable": {"thread_id": "remote-graph-thread"}}
        result = await remote.ainvoke({"question": "Which pets learn words?"}, config)
        assert result["answer"] and [m["type"] for m in result["messages"]] == ["human", "ai"]
        tokens = [
            chunk
            async for chunk in remote.astream(
                {"question": "And which sleep?"}, config, stream_mode="messages"
            )
        ]
        assert len(tokens) > 2 and all(meta["langgraph_node"] == "generate" for _, meta in tokens)
        state = await remote.aget_state(config)
        assert len(state.values["messages"]) == 4
        stateless = await remote.ainvoke({"question": "Hello"})
        assert stateless["answer"]

    asyncio.run(scenario())


async def first_token(stream: Any) -> str:
    """Read a run's stream until its first token; return the run id."""
    run_id = ""
    async for part in stream:
        if part.event == "metadata":
            run_id = part.data["run_id"]
        if part.event == "messages":
            return run_id
    raise AssertionError("the run ended before its first token")


def test_a_busy_thread_refuses_a_second_run_and_a_run_can_be_cancelled(slow_url: str) -> None:
    async def scenario() -> None:
        sdk = client(slow_url)
        tid = (await sdk.threads.create())["thread_id"]
        stream = sdk.runs.stream(tid, "chat", input=ASK, stream_mode="messages-tuple")
        run_id = await first_token(stream)
        assert (await sdk.threads.get(tid))["status"] == "busy"
        assert await refused(sdk.runs.wait(tid, "chat", input={"question": "Me too?"})) == 409
        started = time.monotonic()
        await sdk.runs.cancel(tid, run_id, wait=True)
        rest = [part async for part in stream]  # the stream ends, without an error event
        assert "error" not in [p.event for p in rest]
        assert time.monotonic() - started < 10  # the fake model alone would take 16 s more
        assert (await sdk.threads.get(tid))["status"] == "idle"
        rows = session_rows(slow_url, tid)
        assert [r["role"] for r in rows] == ["human", "ai"] and rows[1]["incomplete"] is True
        assert await refused(sdk.runs.cancel(tid, run_id)) == 404

    asyncio.run(scenario())


async def until_idle(sdk: Any, tid: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while (await sdk.threads.get(tid))["status"] != "idle":
        assert time.monotonic() < deadline, "the run did not end"
        await asyncio.sleep(0.2)


def test_a_run_asked_to_continue_finishes_after_its_client_leaves(slow_url: str) -> None:
    async def scenario() -> None:
        sdk = client(slow_url)
        tid = (await sdk.threads.create())["thread_id"]
        stream = sdk.runs.stream(
            tid, "chat", input=ASK, stream_mode="messages-tuple", on_disconnect="continue"
        )
        await first_token(stream)
        await stream.aclose()  # the page is closed; the slow fake model needs 16 s more
        assert (await sdk.threads.get(tid))["status"] == "busy"
        await until_idle(sdk, tid)
        rows = session_rows(slow_url, tid)
        assert [r["role"] for r in rows] == ["human", "ai"] and rows[1]["incomplete"] is False
        assert rows[1]["content"].count("word") == 400  # the whole answer

    asyncio.run(scenario())


def test_by_default_a_client_that_leaves_stops_its_run(slow_url: str) -> None:
    async def scenario() -> None:
        sdk = client(slow_url)
        tid = (await sdk.threads.create())["thread_id"]
        stream = sdk.runs.stream(tid, "chat", input=ASK, stream_mode="messages-tuple")
        await first_token(stream)
        await stream.aclose()
        await until_idle(sdk, tid, seconds=8)  # the fake model alone would take 16 s more
        rows = session_rows(slow_url, tid)
        assert [r["role"] for r in rows] == ["human", "ai"] and rows[1]["incomplete"] is True

    asyncio.run(scenario())


def test_with_keys_on_each_user_sees_and_runs_only_their_threads(tmp_path: Path) -> None:
    keys = "alice:sk-alice-1,bob:sk-bob-1"
    with agent_backend(tmp_path, factory="slow_app", API_KEYS=keys) as url:

        async def scenario() -> None:
            alice, bob = client(url, api_key="sk-alice-1"), client(url, api_key="sk-bob-1")
            tid = (await alice.threads.create(metadata={"owner": "alice"}))["thread_id"]
            assert [t["thread_id"] for t in await alice.threads.search()] == [tid]
            assert await bob.threads.search() == []
            for attempt in (
                bob.threads.get(tid),
                bob.threads.get_state(tid),
                bob.threads.delete(tid),
                bob.runs.wait(tid, "simple", input={"question": "Hi"}),
            ):
                assert await refused(attempt) == 404
            # A header cannot make bob alice when keys are on.
            spoof = client(url, api_key="sk-bob-1", headers={"X-Ragchat-User": "alice"})
            assert await refused(spoof.threads.get(tid)) == 404
            anonymous = httpx.get(f"{url}/threads/{tid}", timeout=10)
            assert anonymous.status_code == 401
            assert "API key" in anonymous.json()["detail"]
            rows = httpx.get(
                f"{url}/sessions/{tid}/messages",
                headers={"Authorization": "Bearer sk-alice-1"},
                timeout=10,
            )
            assert rows.status_code == 200 and rows.json() == []

        asyncio.run(scenario())


@pytest.mark.postgres
def test_a_thread_round_trip_on_postgresql(tmp_path: Path) -> None:
    with temporary_database() as database, agent_backend(tmp_path, DATABASE_URL=database) as url:

        async def scenario() -> None:
            sdk = client(url)
            tid = (await sdk.threads.create(metadata={"db": "pg"}))["thread_id"]
            final = await sdk.runs.wait(tid, "history", input=ASK)
            assert [m["type"] for m in final["messages"]] == ["human", "ai"]
            state = await sdk.threads.get_state(tid)
            assert state["values"]["messages"][1]["content"] == final["answer"]
            assert [t["thread_id"] for t in await sdk.threads.search(metadata={"db": "pg"})] == [
                tid
            ]
            assert len(session_rows(url, tid)) == 2
            await sdk.threads.delete(tid)
            assert await refused(sdk.threads.get(tid)) == 404

        asyncio.run(scenario())
