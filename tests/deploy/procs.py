"""Process-tree helpers for the deployment tests: who did the supervisor start, are they gone.

psutil is not a dependency, so the tree is read from /proc (Linux only, like the stack's
process-group handling).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from stack import process_start_time


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
