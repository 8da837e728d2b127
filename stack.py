"""Start ragchat's processes together and stop them together (`ragchat run`, `stack`, `stop`).

What each stack runs is in `stack_plan.py`; this module only supervises.

Every child runs in its own session, hence its own process group: stopping a child
is one `killpg`, which also reaches whatever it spawned (uvicorn workers, Streamlit's
helpers). The supervisor stops every group when it is told to (SIGINT, SIGTERM,
SIGHUP, `ragchat stop` from another terminal) or as soon as one child dies, so no
half-running stack is left behind. A pid file under DATA_DIR names the supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PID_FILE_NAME = "ragchat-stack.pid"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StackError(RuntimeError):
    """A child did not come up, died, or the stack was asked to stop while starting."""


@dataclass(frozen=True)
class Child:
    """One long-running process of the stack and the URL that says it is ready."""

    name: str
    argv: list[str]
    health_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    url: str = ""


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the supervisor is killed outright."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid`, None once it has exited (zombies included).

    Comparing start times keeps a reused pid from being mistaken for ours.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the child's process group, wait, then SIGKILL whatever of it is left."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_group(proc.pid, signal.SIGKILL)


class Supervisor:
    """Starts children one after another, each once the previous is healthy, and watches them."""

    # A first start prepares models once (joins a packaged GGUF, converts and times its
    # weights): minutes on a busy 2-core machine. A child that dies is noticed at once,
    # so a long wait only costs time when a child hangs.
    def __init__(
        self, pid_file: Path, *, start_timeout: float = 900.0, stop_timeout: float = 10.0
    ) -> None:
        self.pid_file = pid_file
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.children: list[tuple[Child, subprocess.Popen[bytes]]] = []
        self.stop_requested: int | None = None

    def __enter__(self) -> Supervisor:
        refuse_if_running(self.pid_file)
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        self._write_pid_file()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_requested = signum

    def _check_stop(self) -> None:
        if self.stop_requested is not None:
            name = signal.Signals(self.stop_requested).name
            raise StackError(f"stopped by {name} while starting")

    def _spawn(
        self, argv: list[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def run_step(
        self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> int:
        """A one-shot command (e.g. ingesting the samples) that a signal also stops."""
        self._check_stop()
        log(f"{name}: {' '.join(argv[1:])}")
        proc = self._spawn(argv, env, cwd)
        while proc.poll() is None:
            if self.stop_requested is not None:
                stop_group(proc, self.stop_timeout)
                self._check_stop()
            time.sleep(0.2)
        return proc.returncode

    def start(self, child: Child) -> None:
        """Start `child` and return once its health URL answers 200."""
        self._check_stop()
        log(f"starting {child.name}")
        proc = self._spawn(child.argv, child.env)
        self.children.append((child, proc))
        self._write_pid_file()
        wait_ready(child, proc, self.start_timeout, self._check_stop)

    def watch(self) -> int:
        """Block until a stop signal (exit 0) or until a child dies (exit 1)."""
        while self.stop_requested is None:
            for child, proc in self.children:
                if proc.poll() is not None:
                    log(f"{child.name} exited with {proc.returncode}: stopping the others")
                    return 1
            time.sleep(0.2)
        log(f"{signal.Signals(self.stop_requested).name} received: stopping")
        return 0

    def stop_all(self) -> None:
        """Stop the children in reverse start order: the frontend first, the LLM last."""
        for child, proc in reversed(self.children):
            stop_group(proc, self.stop_timeout)
            log(f"{child.name} stopped")
        self.children.clear()

    def _write_pid_file(self) -> None:
        record = {
            "pid": os.getpid(),
            "start": process_start_time(os.getpid()),
            "children": {
                c.name: {"pid": p.pid, "start": process_start_time(p.pid)} for c, p in self.children
            },
        }
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.pid_file)


def wait_ready(
    child: Child,
    proc: subprocess.Popen[bytes],
    timeout: float,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Return once `child`'s health URL answers 200; StackError if it exits or never does.

    `check` runs between polls (the supervisor raises there when told to stop).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check()
        if proc.poll() is not None:
            raise StackError(f"{child.name} exited with {proc.returncode} while starting")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(child.health_url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise StackError(f"{child.name} did not answer {child.health_url} in {timeout:.0f} s")


@contextlib.contextmanager
def running(
    child: Child,
    *,
    cwd: Path | None = None,
    log_file: Path | None = None,
    timeout: float = 90.0,
    stop_timeout: float = 10.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """One child without a supervisor (tests, benches): started, ready, always stopped."""
    out = log_file.open("wb") if log_file else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            child.argv,
            cwd=cwd,
            env={**os.environ, **child.env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_ready(child, proc, timeout)
            yield proc
        finally:
            stop_group(proc, stop_timeout)
    finally:
        if log_file:
            out.close()  # type: ignore[union-attr]


def log(message: str) -> None:
    print(f"[ragchat] {message}", file=sys.stderr, flush=True)


def _alive(entry: dict[str, object]) -> bool:
    """The recorded process still runs (same pid and same start time)."""
    pid = int(entry["pid"])  # type: ignore[call-overload]
    start = process_start_time(pid)
    return start is not None and (entry.get("start") in (None, start))


def refuse_if_running(pid_file: Path) -> None:
    """One stack per DATA_DIR: they would share the SQLite file and the index."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        record = json.loads(pid_file.read_text())
        if _alive(record):
            raise StackError(
                f"a stack is already running (pid {record['pid']}, {pid_file}); "
                "stop it with `ragchat stop`"
            )


def stop_running(pid_file: Path, timeout: float = 60.0) -> bool:
    """Stop the stack recorded in `pid_file`; False if none was running."""
    try:
        record = json.loads(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return False
    running = _alive(record)
    if running:
        os.kill(int(record["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(record) and time.monotonic() < deadline:
            time.sleep(0.2)
    # A supervisor that did not stop in time, or died by SIGKILL: stop its groups directly.
    for entry in record.get("children", {}).values():
        pgid = int(entry["pid"])
        # The group outlives its leader only if the leader was ours: a pid no process holds
        # cannot name a foreign group.
        leader_gone = process_start_time(pgid) is None
        if _alive(entry) or (leader_gone and _group_alive(pgid)):
            running = True
            _signal_group(pgid, signal.SIGKILL)
    if _alive(record):
        os.kill(int(record["pid"]), signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return running
