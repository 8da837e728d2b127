"""/history with the real local model over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from langserve import RemoteRunnable

from tests.utils.postgres import temporary_database
from tests.utils.processes import backend

pytestmark = pytest.mark.integration


async def prompt_and_answer(url: str, payload: dict) -> tuple[str, str]:
    """The prompt the model received (from stream_events) and the streamed answer."""
    runnable = RemoteRunnable(f"{url}/history", timeout=60)
    prompt, answer = "", ""
    async for event in runnable.astream_events(payload, version="v2"):
        if event["event"] == "on_chat_model_start":
            prompt = str(event["data"]["input"])
        elif (
            event["event"] == "on_chat_model_stream"
            and event["metadata"].get("langgraph_node") == "generate"
        ):
            answer += event["data"]["chunk"].content
    return prompt, answer


def two_turns_then_restart(tmp_path: Path, **env: str) -> None:
    first_q = "My favourite animal is the axolotl."
    with backend(tmp_path, **env) as url:
        _, first_answer = asyncio.run(
            prompt_and_answer(url, {"question": first_q, "username": "ada"})
        )
        assert first_answer.strip()
        prompt, _ = asyncio.run(
            prompt_and_answer(url, {"question": "Which animal do I like?", "username": "ada"})
        )
        # The second prompt provably holds the first turn: question and the stored answer.
        assert first_q in prompt
        assert first_answer.strip()[:20] in prompt
        other, _ = asyncio.run(prompt_and_answer(url, {"question": "Hello?", "username": "bob"}))
        assert "axolotl" not in other
    with backend(tmp_path, **env) as url:  # a new process on the same database
        messages = httpx.get(
            f"{url}/sessions/default/messages", params={"username": "ada"}, timeout=10
        ).json()
        assert [m["role"] for m in messages] == ["human", "ai", "human", "ai"]
        assert messages[0]["content"] == first_q
        answer = RemoteRunnable(f"{url}/history", timeout=60).invoke(
            {"question": "And again?", "username": "ada"}
        )
        assert answer["answer"] and answer["message_id"]


def test_history_on_sqlite_survives_a_restart(tmp_path: Path) -> None:
    two_turns_then_restart(tmp_path, MAX_NEW_TOKENS="16")
    assert (tmp_path / "data" / "ragchat.sqlite3").exists()


@pytest.mark.postgres
def test_history_on_postgresql(tmp_path: Path) -> None:
    with temporary_database() as url:
        two_turns_then_restart(tmp_path, MAX_NEW_TOKENS="16", DATABASE_URL=url)
