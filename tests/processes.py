"""Start real processes on free loopback ports for tests, and always stop them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@contextmanager
def running(
    argv: list[str],
    health_url: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 90.0,
) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_http(health_url, proc, timeout)
        yield proc
    finally:
        stop(proc)
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def backend(tmp: Path, app: str = "server:create_app", **env: str) -> Iterator[str]:
    """uvicorn serving an app factory (default the real one) on a free port; yields its URL."""
    port = free_port()
    environment = {
        "DATA_DIR": str(tmp / "data"),
        "MAX_NEW_TOKENS": "24",
        "RATE_LIMIT_PER_MINUTE": "0",
        **env,
    }
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running(argv, f"http://127.0.0.1:{port}/health", environment, tmp / f"backend-{port}.log"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def llama_server(tmp: Path, gguf: str) -> Iterator[str]:
    """`python -m llama_cpp.server` with the bundled model: the LLM server of production."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        gguf,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--verbose",
        "false",
    ]
    with running(argv, f"http://127.0.0.1:{port}/v1/models", None, tmp / f"llama-{port}.log"):
        yield f"http://127.0.0.1:{port}"
