"""Several askers at once on the real server and the real small model: fair order,
places in line, and a queued question that leaves when its stream closes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langserve import RemoteRunnable

from tests.utils.processes import backend

pytestmark = pytest.mark.integration

# Long enough that the model is busy while others queue, short enough to keep tests quick.
LONG = "Write a long story about a lighthouse keeper and his cat."


SEQUENCES: dict[str, int] = {}
"""Answers each server generates at once (`LLM_PARALLEL`), by its URL."""


@pytest.fixture(scope="module", params=[1, 2], ids=["one-at-a-time", "batched"])
def url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    # Longer answers than the tests' 24 tokens: a question must hold the model long
    # enough for the others to be seen waiting.
    parallel = request.param
    folder = tmp_path_factory.mktemp(f"queue-{parallel}")
    with backend(folder, MAX_NEW_TOKENS="200", LLM_PARALLEL=str(parallel)) as base:
        SEQUENCES[base] = parallel
        yield base


@asynccontextmanager
async def history(url: str) -> AsyncIterator[RemoteRunnable]:
    """The /history stage, its connections closed before the test's event loop is."""
    runnable = RemoteRunnable(f"{url}/history", timeout=120)
    try:
        yield runnable
    finally:
        await runnable.async_client.aclose()


async def first_token_at(url: str, user: str, question: str, started: float) -> float:
    """When the answer's first token arrived, counted from `started`."""
    async with history(url) as stage:
        async for chunk in stage.astream({"question": question, "username": user}):
            if chunk.get("answer"):
                return time.perf_counter() - started
    raise AssertionError("no answer")


async def holding_the_model(url: str, user: str) -> asyncio.Future[Any]:
    """Long answers being written, as many as the model writes at once (the first by
    `user`, the others by users of their own): returns once each has its first token."""

    async def ask(asker: str, writing: asyncio.Event) -> None:
        async with history(url) as stage:
            async for chunk in stage.astream({"question": LONG, "username": asker}):
                if chunk.get("answer"):
                    writing.set()

    tasks = []
    for n in range(SEQUENCES[url]):
        writing = asyncio.Event()
        tasks.append(asyncio.create_task(ask(user if n == 0 else f"{user}-{n}", writing)))
        await asyncio.wait_for(writing.wait(), 60)
    return asyncio.gather(*tasks)


def depth(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    line = next(x for x in text.splitlines() if x.startswith("ragchat_llm_queue_depth"))
    return float(line.split()[-1])


def test_a_users_second_question_waits_behind_another_users_first(url: str) -> None:
    async def scenario() -> dict[str, float]:
        holder = await holding_the_model(url, "ada")  # ada's first, being written
        started = time.perf_counter()
        later = [
            asyncio.create_task(first_token_at(url, "ada", f"{LONG} Part {n}.", started))
            for n in (2, 3)
        ]
        await asyncio.sleep(0.2)  # ada's second and third are in line before bob asks
        bob = await first_token_at(url, "bob", "Name a colour.", started)
        ada = sorted(await asyncio.gather(*later))
        await holder
        return {"ada2": ada[0], "ada3": ada[1], "bob": bob}

    times = asyncio.run(scenario())
    assert times["bob"] < times["ada2"] < times["ada3"], times


def test_a_waiting_answer_reports_its_place_through_astream_events(url: str) -> None:
    async def scenario() -> list[dict[str, Any]]:
        holder = await holding_the_model(url, "cy")
        places: list[dict[str, Any]] = []
        answered = False
        payload = {"question": "Name a colour.", "username": "dee"}
        async with history(url) as stage:
            async for event in stage.astream_events(payload, version="v2"):
                if event["event"] == "on_custom_event" and event["name"] == "ragchat_queue":
                    places.append(event["data"])
                if event["event"] == "on_chat_model_stream" and event["data"]["chunk"].content:
                    answered = True
        await holder
        assert answered
        return places

    places = asyncio.run(scenario())
    assert places and places[0]["ahead"] >= 1, places
    assert "estimate_seconds" in places[0]


def test_a_queued_question_whose_stream_closes_leaves_the_queue_and_is_marked_stopped(
    url: str,
) -> None:
    async def scenario() -> float:
        holder = await holding_the_model(url, "eve")
        payload = {"question": "Name a colour.", "username": "fay", "session_id": "queued"}
        async with history(url) as stage:
            stream = stage.astream(payload)
            async for chunk in stream:
                assert not chunk.get("answer"), "it should still be waiting"
                if "queue" in chunk:
                    break
            assert depth(url) == 1
            closed = time.perf_counter()
            await stream.aclose()
            while depth(url) != 0:
                assert time.perf_counter() - closed < 2, "the question stayed in the queue"
                await asyncio.sleep(0.01)
            left = time.perf_counter() - closed
        await holder
        return left

    left = asyncio.run(scenario())
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(rows) < 2 and time.monotonic() < deadline:  # the shielded save is quick
        rows = httpx.get(
            f"{url}/sessions/queued/messages", params={"username": "fay"}, timeout=10
        ).json()
        time.sleep(0.1)
    assert [r["role"] for r in rows] == ["human", "ai"], rows
    assert rows[1]["incomplete"] is True and rows[1]["content"] == "", rows
    assert left < 2


def test_a_queued_agent_protocol_run_that_is_cancelled_leaves_the_queue(url: str) -> None:
    """langgraph_sdk sees the place in the `custom` stream mode; cancel takes it out."""

    async def scenario() -> tuple[list[Any], float, str]:
        holder = await holding_the_model(url, "gus")
        sdk = get_client(url=url, timeout=60, headers={"X-Ragchat-User": "hal"})
        tid = (await sdk.threads.create())["thread_id"]
        ask = {"messages": [{"role": "user", "content": "Name a colour."}]}
        parts: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:  # the stream stays open: closing it would stop the run too
            async for part in sdk.runs.stream(tid, "history", input=ask, stream_mode="custom"):
                await parts.put(part)
            await parts.put(None)

        reader = asyncio.create_task(read())
        run_id, places = "", []
        while not places:
            part = await asyncio.wait_for(parts.get(), 60)
            assert part is not None, "the run never waited: nothing was ahead of it"
            if part.event == "metadata":
                run_id = part.data["run_id"]
            if part.event == "custom" and "queue" in part.data:
                places.append(part.data["queue"])
        assert depth(url) == 1
        cancelled = time.perf_counter()
        await sdk.runs.cancel(tid, run_id)
        while depth(url) != 0:
            assert time.perf_counter() - cancelled < 2, "the run stayed in the queue"
            await asyncio.sleep(0.01)
        left = time.perf_counter() - cancelled
        await asyncio.wait_for(reader, 10)  # the cancelled run's stream ends
        await holder
        return places, left, tid

    places, left, tid = asyncio.run(scenario())
    assert places[0]["ahead"] >= 1
    assert left < 2
    rows = httpx.get(
        f"{url}/sessions/{tid}/messages", params={"username": "hal"}, timeout=10
    ).json()
    assert [r["role"] for r in rows] == ["human", "ai"] and rows[1]["incomplete"] is True


def test_a_queued_openai_stream_starts_with_its_place(url: str) -> None:
    """`/v1` tells the place in headers and SSE comments, which OpenAI clients skip."""

    async def scenario() -> tuple[httpx.Headers, str]:
        holder = await holding_the_model(url, "jo")
        body = {
            "model": "ragchat-formatted",
            "stream": True,
            "user": "kim",
            "messages": [{"role": "user", "content": "Name a colour."}],
        }
        async with (
            httpx.AsyncClient(timeout=120) as client,
            client.stream("POST", f"{url}/v1/chat/completions", json=body) as response,
        ):
            text = (await response.aread()).decode()
            headers = response.headers
        await holder
        return headers, text

    headers, text = asyncio.run(scenario())
    assert int(headers["x-ragchat-queue-ahead"]) >= 1
    assert ": queue {" in text.split("data: ")[1]  # before the first content delta
    assert text.rstrip().endswith("data: [DONE]")


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples (every label), from /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and line[len(name)] in " {"
    )


def test_metrics_report_the_waits_and_the_kept_prompt_states(url: str) -> None:
    # Runs after the tests above: several answers have waited behind others by now.
    assert metric(url, "ragchat_llm_queue_wait_seconds_count") >= 5
    assert metric(url, "ragchat_llm_queue_wait_seconds_sum") > 0.5
    assert metric(url, "ragchat_llm_prefix_cache_lookups_total") >= 5
    assert metric(url, "ragchat_llm_prefix_cache_bytes") > 0
