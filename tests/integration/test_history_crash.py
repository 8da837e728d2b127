"""A question survives `kill -9` of the server mid-answer, on SQLite and on PostgreSQL.

The server is the real app (uvicorn, LangServe, graph, history store) with the bench's
paced fake model, so the kill lands while tokens are still streaming: no shutdown hook
and no shielded save can run. After a restart the session holds the question; a retry
with the same request id stores the answer once and the question not again.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from stack import Child, running
from tests.utils.overrides import isolated
from tests.utils.postgres import temporary_database
from tests.utils.processes import REPO, free_port

pytestmark = pytest.mark.integration

QUESTION = "What do axolotls eat?"
TURN = {"question": QUESTION, "username": "ada", "session_id": "s1", "request_id": "turn-1"}


@contextmanager
def fake_model_server(tmp: Path, port: int, **env: str) -> Iterator[object]:
    """The real app with a fake model on `port`; yields the process (always stopped)."""
    argv = [sys.executable, "-m", "uvicorn", "bench.fake_server:create_fake_app", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    child = Child("backend", argv, f"http://127.0.0.1:{port}/health", isolated(tmp, **env))
    log = tmp / f"backend-{port}-{time.monotonic_ns()}.log"
    with running(child, cwd=REPO, log_file=log) as proc:
        yield proc


def kill_mid_stream(base: str, proc: object) -> int:
    """Stream a long answer, SIGKILL the server after a few tokens; the tokens seen."""
    tokens = 0
    with httpx.stream("POST", f"{base}/history/stream", json={"input": TURN}, timeout=60) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data:") and '"answer"' in line:
                tokens += 1
            if tokens == 5:
                break
        os.killpg(proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        proc.wait(timeout=30)  # type: ignore[attr-defined]
    return tokens


def stored(base: str) -> list[dict]:
    response = httpx.get(f"{base}/sessions/s1/messages", params={"username": "ada"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def crash_restart_retry(tmp: Path, **env: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # 2,000 words at 20 ms each: the answer is far from done when the kill lands.
    slow = {"BENCH_FAKE_TOKENS": "2000", "BENCH_FAKE_TOKEN_DELAY_MS": "20"}
    with fake_model_server(tmp, port, **slow, **env) as proc:
        assert kill_mid_stream(base, proc) == 5

    with fake_model_server(tmp, port, BENCH_FAKE_TOKENS="6", **env):
        after_crash = stored(base)
        # The question is there; the answer was never written (a crash runs no handler),
        # or, had it been, it would be marked incomplete.
        assert after_crash[0]["role"] == "human" and after_crash[0]["content"] == QUESTION
        assert len(after_crash) == 1 or after_crash[1]["incomplete"] is True
        [session] = httpx.get(f"{base}/sessions", params={"username": "ada"}, timeout=10).json()
        assert (session["title"], session["message_count"]) == (QUESTION, len(after_crash))

        for _ in range(2):  # the client retries with the same request id, then again
            retried = httpx.post(f"{base}/history/invoke", json={"input": TURN}, timeout=60)
            assert retried.status_code == 200, retried.text
        messages = stored(base)
        assert [m["role"] for m in messages] == ["human", "ai"]
        assert messages[0]["content"] == QUESTION and messages[1]["content"].strip()
        assert messages[1]["id"] == retried.json()["output"]["message_id"]

        # The next turn's prompt holds the recovered turn once.
        nxt = {**TURN, "question": "And then?", "request_id": "turn-2"}
        events = httpx.post(f"{base}/history/stream_events", json={"input": nxt}, timeout=60)
        prompt_starts = [e for e in events.text.split("\n") if "on_chat_model_start" in e]
        assert prompt_starts and prompt_starts[0].count(QUESTION) == 1


def test_a_question_survives_a_crash_on_sqlite(tmp_path: Path) -> None:
    crash_restart_retry(tmp_path)


@pytest.mark.postgres
def test_a_question_survives_a_crash_on_postgresql(tmp_path: Path) -> None:
    with temporary_database() as url:
        crash_restart_retry(tmp_path, DATABASE_URL=url)
