"""`ragchat`: the command line (serve, run, ingest, stats, ...)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from settings import Settings, get_settings

if TYPE_CHECKING:
    from stack import Child


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    options = {
        "host": args.host or settings.host,
        "port": args.port or settings.port,
        "log_level": settings.log_level,
    }
    if args.workers > 1:
        # Each worker is its own process: they count into files that /metrics merges
        # (prometheus-client's multiprocess mode), in a folder emptied at each start.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", str(settings.data_dir.resolve() / "metrics")
        )
        _empty_folder(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
        uvicorn.run("server:create_app", factory=True, workers=args.workers, **options)
        return 0
    from server import create_app

    uvicorn.run(create_app(settings), workers=1, **options)
    return 0


def _empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


# --- run / stack / frontend / stop: several processes, supervised by stack.py ---------


def _pid_file() -> Path:
    from stack import PID_FILE_NAME

    return get_settings().data_dir.resolve() / PID_FILE_NAME


def _supervise(children: list, seed: bool) -> int:
    """Seed the samples if the index is empty, start `children` in order, watch them."""
    import stack
    import stack_plan as plan

    settings = get_settings()
    try:
        with stack.Supervisor(_pid_file()) as supervisor:
            command = plan.seed_samples_command(settings.index_dir.resolve())
            # In the repo folder, so sources read `samples/...`; DATA_DIR made absolute for it.
            env = {"DATA_DIR": str(settings.data_dir.resolve())}
            step = "ingest samples (first run: under a minute)"
            seeding = seed and settings.vector_backend == "local" and command
            if seeding and supervisor.run_step(step, command, env, cwd=plan.REPO) != 0:
                stack.log("ingesting the samples failed; starting without them")
            for child in children:
                supervisor.start(child)
            lines = "\n".join(plan.url_lines(children))
            print(f"ragchat is running:\n{lines}\nCtrl-C (or `ragchat stop`) stops it.", flush=True)
            return supervisor.watch()
    except stack.StackError as exc:
        stack.log(str(exc))
        return 1


def _run(args: argparse.Namespace) -> int:
    import stack_plan as plan

    settings = get_settings()
    host = args.host or settings.host
    backend = plan.backend(host, args.port or settings.port)
    ui = _app(settings, host, args.frontend_port, backend.url)
    return _supervise([backend, ui], seed=not args.no_samples)


def _stack(args: argparse.Namespace) -> int:
    import stack_plan as plan
    from chains.llm import LLMUnavailable
    from chains.llm.gguf import model_gguf
    from chains.llm.llama_build import activate, choose_build
    from chains.llm.weights import local_weights
    from chains.models.presets import llm_model
    from stack import log

    settings = get_settings()
    # The LLM server runs what `ragchat run` would run in process: the same preset (joined
    # from its packages on first use) on the same weights (LLM_WEIGHTS).
    local = settings.model_copy(update={"llm_provider": "local"})
    try:
        shipped = model_gguf(local)
        build = choose_build(local, shipped)
        activate(build)  # the weights are converted and timed with the same build
        gguf = local_weights(local, shipped)
    except LLMUnavailable as exc:
        log(f"no GGUF model for the LLM server: {exc}")
        return 2
    llm_port = args.llm_port or settings.llm_server_port or plan.free_port()
    llm = plan.llm_server(
        gguf, llm_port, settings.llm_context_tokens, settings.llm_threads, build.build.folder
    )
    host = args.host or settings.host
    env = plan.endpoint_env(llm.url, llm_model(local))
    backend = plan.backend(host, args.port or settings.port, env)
    ui = _app(settings, host, args.frontend_port, backend.url)
    return _supervise([llm, backend, ui], seed=not args.no_samples)


def _app(settings: Settings, host: str, port: int | None, backend_url: str) -> Child:
    """The Streamlit app's process; its file picker refuses what MAX_UPLOAD_BYTES refuses
    (Streamlit counts whole megabytes, so the limit is rounded up)."""
    import stack_plan as plan

    upload_mb = max(1, math.ceil(settings.max_upload_bytes / (1024 * 1024)))
    return plan.frontend(host, port or settings.frontend_port, backend_url, upload_mb)


def _frontend(args: argparse.Namespace) -> NoReturn:
    """The Streamlit app alone, in this process (exec), pointed at BACKEND_URL."""
    import stack_plan as plan

    settings = get_settings()
    backend_url = (
        args.backend_url
        or os.environ.get("BACKEND_URL")
        or f"http://{plan.client_host(settings.host)}:{settings.port}"
    )
    ui = _app(settings, args.host or settings.host, args.port, backend_url)
    os.execve(ui.argv[0], ui.argv, {**os.environ, **ui.env})


def _stop(args: argparse.Namespace) -> int:
    from stack import stop_running

    pid_file = _pid_file()
    if stop_running(pid_file):
        print("ragchat stopped", flush=True)
    else:
        print(f"no ragchat stack is running (no live {pid_file})", flush=True)
    return 0


def add_stack_commands(commands: argparse._SubParsersAction) -> None:
    for name, handler, text in (
        ("run", _run, "backend + Streamlit app (embedded LLM); Ctrl-C stops both"),
        ("stack", _stack, "llama.cpp LLM server + backend (provider endpoint) + Streamlit app"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--host", default=None, help="default: HOST")
        command.add_argument("--port", type=int, default=None, help="backend; default: PORT")
        command.add_argument(
            "--frontend-port", type=int, default=None, help="default: FRONTEND_PORT"
        )
        command.add_argument(
            "--no-samples", action="store_true", help="do not ingest samples/ into an empty index"
        )
        if name == "stack":
            command.add_argument(
                "--llm-port", type=int, default=None, help="LLM server; default: a free port"
            )
        command.set_defaults(handler=handler)
    ui = commands.add_parser("frontend", help="the Streamlit app only")
    ui.add_argument("--host", default=None)
    ui.add_argument("--port", type=int, default=None, help="default: FRONTEND_PORT")
    ui.add_argument("--backend-url", default=None, help="default: BACKEND_URL or HOST:PORT")
    ui.set_defaults(handler=_frontend)
    stop = commands.add_parser("stop", help="stop a `run`/`stack` started in another terminal")
    stop.set_defaults(handler=_stop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragchat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the backend (FastAPI + LangServe)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None, help="default: PORT or 8000")
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (metrics merged)"
    )
    serve.set_defaults(handler=_serve)
    add_stack_commands(commands)
    from ingest_cli import register as add_index_commands

    add_index_commands(commands)  # ingest, stats
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
