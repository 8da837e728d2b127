"""Process-tree helpers for the deployment tests: who did the supervisor start, are they gone.

psutil is not a dependency, so the tree is read from /proc (Linux only, like the stack's
process-group handling).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from stack import process_start_time
from tests.utils.overrides import isolated
from tests.utils.processes import REPO


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def descendants(root: int) -> dict[int, str]:
    """Every live process below `root`, as {pid: start time} (start time guards pid reuse)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (parent := _parent(int(entry))) is not None:
            children.setdefault(parent, []).append(int(entry))
    found: dict[int, str] = {}
    stack = [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            start = process_start_time(pid)
            if start is not None:
                found[pid] = start
                stack.append(pid)
    return found


def survivors(processes: dict[int, str]) -> list[int]:
    """The pids of `processes` that still run (zombies count as gone: they have exited)."""
    return [pid for pid, start in processes.items() if process_start_time(pid) == start]


def wait_gone(processes: dict[int, str], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := survivors(processes)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def wait_ok(url: str, proc: subprocess.Popen[bytes], timeout: float = 240.0) -> httpx.Response:
    """Poll `url` until it answers 200; fail early if `proc` (the supervisor) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"supervisor exited with {proc.returncode} before {url}"
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


def kill_tree(proc: subprocess.Popen[bytes], tree: dict[int, str]) -> None:
    """Last-resort cleanup after a failed test: SIGKILL the supervisor and what it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in survivors(tree):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def start_cli(
    args: list[str], tmp_path: Path, *, as_shipped: bool = False, **env: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`ragchat ARGS` (the real CLI, via `python -m cli`) in its own session, logging to a file.

    Its own session keeps a test run's Ctrl-C away from it; the test signals it itself.
    `as_shipped` leaves every setting as `make run` has it but the data folder.
    """
    log = tmp_path / f"ragchat-{args[0]}.log"
    overrides = {"DATA_DIR": str(tmp_path / "data")} if as_shipped else isolated(tmp_path)
    environment = {**os.environ, **overrides, **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


def cmdlines(processes: dict[int, str]) -> list[str]:
    lines = []
    for pid in processes:
        with contextlib.suppress(OSError):
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return lines


def port_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for_text(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> str:
    """The log once it contains `text` (the supervisor prints its URLs after the last check)."""
    deadline = time.monotonic() + timeout
    while text not in (output := log.read_text(errors="replace")):
        assert proc.poll() is None, output[-3000:]
        assert time.monotonic() < deadline, f"{text!r} not in the log: {output[-3000:]}"
        time.sleep(0.2)
    return output
