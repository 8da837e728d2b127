"""Start the server under test as a real uvicorn subprocess, as production runs it.

Benchmarks never serve the app in their own process: the client's work would
then share the server's event loop and GIL, and the numbers would be neither's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stack import Child, running
from stack_plan import REPO, free_port

REAL_APP = "server:create_app"
FAKE_APP = "bench.fake_server:create_fake_app"

# Limits that would otherwise throttle a load test; the bench measures the server, not them.
UNTHROTTLED = {
    "RATE_LIMIT_PER_MINUTE": "0",
    "MAX_CONCURRENT_REQUESTS": "1000",
    "MAX_BATCH_SIZE": "1000",
    "LOG_LEVEL": "warning",
}


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far."""
        return process_cpu_seconds(self.pid)


def process_cpu_seconds(pid: int) -> float:
    """From Linux's /proc: fields 14 and 15 of /proc/PID/stat, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# A server's first start on a machine joins the packaged GGUF from its parts, checks its
# digest and measures its weight formats (`LLM_WEIGHTS=auto`): minutes on 2 cores, once
# per models folder. Later starts take seconds.
FIRST_START_SECONDS = 900.0


@contextmanager
def serve(
    app: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = FIRST_START_SECONDS,
    workers: int = 1,
) -> Iterator[Server]:
    """uvicorn serving `app` (a factory) on a free loopback port, always stopped afterwards;
    `workers` > 1 runs that many processes on the port, each with its own app."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {"DATA_DIR": str(workdir / "data"), **UNTHROTTLED, **(env or {})}
    argv = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    log = workdir / f"server-{port}.log"
    try:
        child = Child(app, argv, f"{url}/health", environment)
        with running(child, cwd=REPO, log_file=log, timeout=timeout) as proc:
            yield Server(url, proc.pid)
    except BaseException:
        # The temp folder goes away with the log: show its end before it does.
        tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
        print(f"--- server log ({app}), last lines:", *tail, sep="\n", file=sys.stderr)
        raise


def stop_servers_on_sigterm() -> None:
    """Turn SIGTERM (`timeout`, CI cancel) into SystemExit so `serve` still stops its server."""
    import signal

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
