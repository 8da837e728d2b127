"""Start real processes on free loopback ports for tests, and always stop them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack import Child, running
from stack_plan import free_port
from tests.utils.overrides import isolated

REPO = Path(__file__).resolve().parents[2]

__all__ = ["REPO", "backend", "free_port", "llama_server", "serving"]


@contextmanager
def serving(
    argv: list[str],
    health_url: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 90.0,
) -> Iterator[None]:
    """`argv` run from the repository, ready once `health_url` answers 200, always stopped."""
    child = Child(Path(argv[0]).name, argv, health_url, env or {})
    with running(child, cwd=REPO, log_file=log, timeout=timeout):
        yield


@contextmanager
def backend(tmp: Path, app: str = "server:create_app", **env: str) -> Iterator[str]:
    """uvicorn serving an app factory (default the real one) on a free port; yields its URL."""
    port = free_port()
    environment = isolated(tmp, **env)
    argv = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serving(argv, f"{url}/health", environment, tmp / f"backend-{port}.log"):
        yield url


@contextmanager
def llama_server(tmp: Path, gguf: str) -> Iterator[str]:
    """`python -m llama_cpp.server` with the bundled model: the LLM server of production."""
    from stack_plan import llm_server

    child = llm_server(Path(gguf), free_port(), context_tokens=2048)
    with running(child, cwd=REPO, log_file=tmp / f"llama-{child.url[-5:]}.log"):
        yield child.url
