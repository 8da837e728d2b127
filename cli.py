"""`ragchat`: the command line (serve, run, ingest, stats, ...)."""

from __future__ import annotations

import argparse
import logging
import sys

from settings import get_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server import create_app

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        workers=1,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragchat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the backend (FastAPI + LangServe)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None, help="default: PORT or 8000")
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
