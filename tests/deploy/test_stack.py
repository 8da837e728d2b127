"""`ragchat stack`: LLM server, backend (provider endpoint), frontend: started and stopped as one.

The real CLI as a subprocess on free ports, DATA_DIR under tmp, so the run starts as a
fresh checkout's `make stack` does: it ingests samples/ first. A question goes end to
end through the frontend's own client (`frontend.client.BackendClient`) and is answered
from the samples; then SIGINT, as Ctrl-C sends it, must leave no process behind.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from frontend.client import BackendClient
from stack import PID_FILE_NAME
from stack_plan import free_port
from tests.utils.process_tree import (
    cmdlines,
    descendants,
    kill_tree,
    port_closed,
    start_cli,
    wait_for_text,
    wait_gone,
    wait_ok,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_stack_answers_through_the_frontend_client_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {"llm": free_port(), "backend": free_port(), "frontend": free_port()}
    proc, log = start_cli(
        [
            "stack",
            "--port",
            str(ports["backend"]),
            "--frontend-port",
            str(ports["frontend"]),
            "--llm-port",
            str(ports["llm"]),
        ],
        tmp_path,
    )
    backend_url = f"http://127.0.0.1:{ports['backend']}"
    tree: dict[int, str] = {}
    try:
        wait_ok(f"http://127.0.0.1:{ports['llm']}/v1/models", proc)
        health = wait_ok(f"{backend_url}/health", proc).json()
        wait_ok(f"http://127.0.0.1:{ports['frontend']}/_stcore/health", proc)
        output = wait_for_text(log, "ragchat is running", proc)
        assert f"http://127.0.0.1:{ports['frontend']}" in output

        # The backend talks to the LLM server, not to a model of its own.
        assert health["llm"]["provider"] == "endpoint" and health["llm"]["loaded"], health
        # ... which runs the model the backend is told it runs, so it gets that preset's
        # prompt (tests/utils/overrides.py names the small one).
        assert health["llm"]["model"] == "smollm2-135m", health

        tree = descendants(proc.pid)
        commands = " | ".join(cmdlines(tree))
        for part in ("llama_cpp.server", "cli serve", "streamlit run"):
            assert part in commands, commands
        assert "SmolLM2-135M-Instruct.Q4_1" in commands  # the preset's GGUF, on its weights
        assert (tmp_path / "data" / PID_FILE_NAME).exists()

        client = BackendClient(backend_url, stream_timeout=120)
        try:
            stream = client.stream_answer(
                "chat",
                {"question": "How do I decode JSON with the json module?", "username": "tester"},
            )
            answer = "".join(stream)
            messages = client.messages("tester", stream.closing["session_id"])
        finally:
            client.close()
        assert answer.strip(), log.read_text()[-3000:]
        assert {"message_id", "session_id"} <= stream.closing.keys()
        # Retrieval ran over the samples that the stack ingested before starting.
        sources = [source["source"] for source in stream.closing.get("sources", [])]
        assert sources and all(source.startswith("samples/") for source in sources), sources
        assert "ingested" in output
        # The exchange was stored: the history route returns the question and the answer.
        assert [m["role"] for m in messages] == ["human", "ai"]
        assert messages[1]["content"] == answer

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert wait_gone(tree, timeout=15) == [], cmdlines(tree)
        assert all(port_closed(port) for port in ports.values())
        assert not (tmp_path / "data" / PID_FILE_NAME).exists()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{backend_url}/health", timeout=2)
    finally:
        kill_tree(proc, tree)
