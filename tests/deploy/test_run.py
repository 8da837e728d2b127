"""`ragchat run` starts backend + Streamlit app; `ragchat stop` from elsewhere stops both.

The real CLI as subprocesses on free ports with DATA_DIR under tmp; `stop` runs as a
second process, as it would in another terminal, and finds the stack by its pid file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
from tests.utils.processes import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def ragchat_stop(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "stop"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DATA_DIR": str(data_dir)},
        timeout=120,
    )


@pytest.mark.timeout(600)
def test_run_serves_both_and_stop_ends_every_process(tmp_path: Path) -> None:
    backend_port, frontend_port = free_port(), free_port()
    proc, log = start_cli(
        ["run", "--no-samples", "--port", str(backend_port), "--frontend-port", str(frontend_port)],
        tmp_path,
    )
    tree: dict[int, str] = {}
    try:
        health = wait_ok(f"http://127.0.0.1:{backend_port}/health", proc).json()
        frontend = wait_ok(f"http://127.0.0.1:{frontend_port}/_stcore/health", proc)
        output = wait_for_text(log, "ragchat is running", proc)
        assert health["llm"]["provider"] == "local" and health["llm"]["loaded"], health
        assert frontend.text.strip() == "ok"
        assert f"http://127.0.0.1:{backend_port}" in output
        assert f"http://127.0.0.1:{frontend_port}" in output
        assert "ingest samples" not in output  # --no-samples

        tree = descendants(proc.pid)
        commands = " | ".join(cmdlines(tree))
        assert "cli serve" in commands and "streamlit run" in commands, commands
        # The app is pointed at this backend.
        streamlit_pid = next(
            p for p, c in zip(tree, cmdlines(tree), strict=True) if "streamlit run" in c
        )
        environ = Path(f"/proc/{streamlit_pid}/environ").read_bytes().split(b"\0")
        assert f"BACKEND_URL=http://127.0.0.1:{backend_port}".encode() in environ

        stopped = ragchat_stop(tmp_path / "data")
        assert stopped.returncode == 0 and "ragchat stopped" in stopped.stdout, stopped
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
        assert wait_gone(tree, timeout=15) == [], cmdlines(tree)
        assert port_closed(backend_port) and port_closed(frontend_port)
        assert not (tmp_path / "data" / PID_FILE_NAME).exists()

        again = ragchat_stop(tmp_path / "data")
        assert again.returncode == 0 and "no ragchat stack is running" in again.stdout
    finally:
        kill_tree(proc, tree)


def test_frontend_alone_serves_the_app_pointed_at_backend_url(tmp_path: Path) -> None:
    port = free_port()
    proc, log = start_cli(
        ["frontend", "--port", str(port), "--backend-url", "http://127.0.0.1:9"], tmp_path
    )
    try:
        assert wait_ok(f"http://127.0.0.1:{port}/_stcore/health", proc, timeout=120).text == "ok"
        # `ragchat frontend` becomes Streamlit itself (exec): no supervisor in between.
        assert "streamlit run" in cmdlines({proc.pid: ""})[0]
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert b"BACKEND_URL=http://127.0.0.1:9" in environ
    finally:
        kill_tree(proc, descendants(proc.pid))
    assert port_closed(port), log.read_text()[-2000:]
