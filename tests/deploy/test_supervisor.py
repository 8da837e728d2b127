"""The supervisor's promises, on a model-free stack of two HTTP servers (see supervised.py).

Ctrl-C stops every child and grandchild; one child dying stops the rest with exit 1;
`ragchat stop`'s function stops a stack from another process; a supervisor killed
outright leaves groups that `stop_running` still finds; one stack per pid file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack import stop_running
from stack_plan import free_port
from tests.utils.process_tree import descendants, kill_tree, survivors, wait_gone, wait_ok
from tests.utils.processes import REPO

pytestmark = pytest.mark.integration


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    pid_file: Path
    tree: dict[int, str]
    urls: tuple[str, str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def launch(
    tmp_path: Path, pid_file: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], Path, list[int]]:
    ports = [free_port(), free_port()]
    log = tmp_path / f"supervisor-{ports[0]}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.deploy.supervised", str(pid_file), *map(str, ports), *extra],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log, ports


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    pid_file = tmp_path / "data" / "ragchat-stack.pid"
    proc, log, ports = launch(tmp_path, pid_file)
    tree: dict[int, str] = {}
    try:
        urls = (f"http://127.0.0.1:{ports[0]}/", f"http://127.0.0.1:{ports[1]}/")
        for url in urls:
            wait_ok(url, proc, timeout=30)
        time.sleep(0.5)  # let the shell of child b start its grandchild
        tree = descendants(proc.pid)
        yield Running(proc, pid_file, tree, urls, log)
    finally:
        kill_tree(proc, tree)


def test_sigint_stops_children_and_grandchildren(running: Running) -> None:
    # Two servers, b's shell or server, and b's `sleep`: at least four processes.
    assert len(running.tree) >= 4, running.tree
    assert json.loads(running.pid_file.read_text())["pid"] == running.proc.pid
    running.proc.send_signal(signal.SIGINT)
    assert running.proc.wait(timeout=30) == 0, running.output()
    assert wait_gone(running.tree, timeout=10) == []
    assert not running.pid_file.exists()
    assert "SIGINT received" in running.output()


def test_one_child_dying_stops_the_others_and_exits_non_zero(running: Running) -> None:
    record = json.loads(running.pid_file.read_text())
    child_a = record["children"]["a"]["pid"]
    subprocess.run(["kill", "-KILL", str(child_a)], check=True)
    assert running.proc.wait(timeout=30) == 1, running.output()
    assert "a exited with -9" in running.output()
    assert wait_gone(running.tree, timeout=10) == []


def test_stop_running_stops_a_stack_of_another_process(running: Running) -> None:
    assert stop_running(running.pid_file) is True
    assert running.proc.wait(timeout=5) == 0, running.output()
    assert wait_gone(running.tree, timeout=10) == []
    assert stop_running(running.pid_file) is False


def test_stop_running_cleans_up_after_a_killed_supervisor(running: Running) -> None:
    running.proc.kill()  # SIGKILL: the supervisor cannot stop anything itself
    running.proc.wait(timeout=5)
    assert running.pid_file.exists()
    stop_running(running.pid_file)
    assert wait_gone(running.tree, timeout=10) == []
    assert not running.pid_file.exists()


def test_a_second_stack_on_the_same_pid_file_is_refused(running: Running, tmp_path: Path) -> None:
    second, log, _ = launch(tmp_path, running.pid_file)
    assert second.wait(timeout=30) == 1
    assert "already running" in log.read_text()
    assert survivors(running.tree) != [], "the first stack must be untouched"
    assert running.proc.poll() is None


def test_sigint_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "data" / "ragchat-stack.pid"
    proc, log, ports = launch(tmp_path, pid_file, "never-ready")
    tree: dict[int, str] = {}
    try:
        wait_ok(f"http://127.0.0.1:{ports[0]}/", proc, timeout=30)
        wait_ok(f"http://127.0.0.1:{ports[1]}/", proc, timeout=30)  # up, but never "ready"
        time.sleep(0.5)
        tree = descendants(proc.pid)
        assert len(tree) >= 3, tree
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 1
        assert "stopped by SIGINT while starting" in log.read_text()
        assert wait_gone(tree, timeout=10) == []
        assert not pid_file.exists()
    finally:
        kill_tree(proc, tree)
