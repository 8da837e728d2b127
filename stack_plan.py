"""What `ragchat run` and `ragchat stack` consist of: each process, its command and health URL.

`run` is backend + frontend (the LLM inside the backend); `stack` is the seed's
three-part architecture on one machine: llama.cpp's OpenAI-compatible server, the
backend calling it through the HuggingFace client (provider `endpoint`), the frontend.
`stack.py` starts and stops them.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from stack import Child, log

REPO = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_host(host: str) -> str:
    """Where a local client reaches a server bound to `host` (0.0.0.0 is not an address)."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def frontend_app() -> Path:
    """`frontend/app.py`, in the work tree or wherever the `frontend` package is installed."""
    spec = importlib.util.find_spec("frontend")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / "app.py").is_file():
            return Path(folder) / "app.py"
    return REPO / "frontend" / "app.py"


def backend(host: str, port: int, env: Mapping[str, str] | None = None) -> Child:
    url = f"http://{client_host(host)}:{port}"
    argv = [sys.executable, "-m", "cli", "serve", "--host", host, "--port", str(port)]
    return Child("backend", argv, f"{url}/health", dict(env or {}), url)


def frontend(host: str, port: int, backend_url: str, max_upload_mb: int) -> Child:
    """The Streamlit app; its file picker refuses what the backend would (MAX_UPLOAD_BYTES)."""
    url = f"http://{client_host(host)}:{port}"
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(frontend_app()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",  # no Deploy button for the chat's users
        "--server.maxUploadSize",
        str(max_upload_mb),
    ]
    return Child("frontend", argv, f"{url}/_stcore/health", {"BACKEND_URL": backend_url}, url)


def llm_server(
    gguf: Path, port: int, context_tokens: int, threads: int = 0, pythonpath: Path | None = None
) -> Child:
    """llama.cpp's OpenAI-compatible server; `pythonpath` loads another llama.cpp build."""
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(context_tokens),
        "--verbose",
        "false",
    ]
    if threads:
        argv += ["--n_threads", str(threads)]
    env = {"PYTHONPATH": str(pythonpath)} if pythonpath else {}
    return Child("llm-server", argv, f"{url}/v1/models", env, url)


def endpoint_env(llm_url: str, model: str) -> dict[str, str]:
    """The backend's environment for the three-part stack (provider `endpoint`).

    `model` is what the LLM server runs (a preset name or a GGUF path): the backend then
    prompts it as `ragchat run` prompts the same model in process.
    """
    return {
        "LLM_PROVIDER": "endpoint",
        "LLM_ENDPOINT_URL": llm_url,
        "LLM_MODEL": model,
        # The HuggingFace client refuses even a loopback URL while HF_HUB_OFFLINE is on.
        "HF_HUB_OFFLINE": "0",
    }


def seed_samples_command(index_dir: Path, samples: Path = REPO / "samples") -> list[str] | None:
    """The command that ingests samples/ into an empty embedded index, or None.

    Run it in `samples.parent`: the chunks' `source` is then `samples/...`, not a local path.
    """
    has_index = index_dir.is_dir() and any(index_dir.iterdir())
    if (
        has_index
        or not samples.is_dir()
        or importlib.util.find_spec("chains.ingest.pipeline") is None
    ):
        return None
    return [sys.executable, "-m", "stack_plan", "seed", samples.name]


def seed(paths: list[str]) -> int:
    """`python -m stack_plan seed PATH...`: ingest in a child; the supervisor never loads torch."""
    from chains.ingest.pipeline import ingest
    from settings import get_settings

    report = ingest(get_settings(), list(paths), progress=False)
    log(
        f"ingested {report.chunks} chunks from {report.files} files in {report.seconds:.0f} s"
        + (f"; unreadable: {', '.join(report.errors)}" if report.errors else "")
    )
    return 0 if report.chunks else 1


def url_lines(children: list[Child]) -> Iterator[str]:
    for child in children:
        if child.url:
            yield f"  {child.name:<11} {child.url}"


if __name__ == "__main__":
    if sys.argv[1:2] != ["seed"] or len(sys.argv) < 3:
        sys.exit("usage: python -m stack_plan seed PATH...")
    sys.exit(seed(sys.argv[2:]))
