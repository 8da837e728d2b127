"""A small stack for testing the supervisor itself: two plain HTTP servers, no model.

`python -m tests.deploy.supervised PID_FILE PORT_A PORT_B [never-ready]`: child `a` is a
server; child `b` is a shell that keeps a `sleep` grandchild and runs a server, so
stopping `b` must reach a process the supervisor never saw. With `never-ready`, `b`'s
health URL never answers, so the supervisor stays in its start phase.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stack import Child, StackError, Supervisor, log


def main(pid_file: str, port_a: int, port_b: int, never_ready: bool = False) -> int:
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
    a = Child("a", [*server, str(port_a)], f"http://127.0.0.1:{port_a}/")
    b = Child(
        "b",
        ["sh", "-c", f"sleep 600 & {' '.join(server)} {port_b}"],
        f"http://127.0.0.1:{port_b}/{'missing' if never_ready else ''}",
    )
    try:
        with Supervisor(Path(pid_file), start_timeout=30, stop_timeout=5) as supervisor:
            for child in (a, b):
                supervisor.start(child)
            print("READY", flush=True)
            return supervisor.watch()
    except StackError as exc:
        log(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "never-ready" in sys.argv))
