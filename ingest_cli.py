"""`ragchat ingest` and `ragchat stats`: argparse wiring for chains.ingest.pipeline.

cli.py calls `register(subparsers)`; each command stores `handler(args) -> int`, like the
other commands there.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="add files or folders to the index (.md .txt .rst .html .pdf), or delete a source",
    )
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (recursive)")
    ingest.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata on every chunk; ints, floats and true/false are typed",
    )
    ingest.add_argument("--delete", metavar="SOURCE", help="remove every chunk of SOURCE")
    ingest.add_argument(
        "--rebuild",
        action="store_true",
        help="make PATHs the whole index, dropping everything else (also after an upgrade "
        "that changed how chunks are indexed)",
    )
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
    ingest.set_defaults(handler=run_ingest)
    stats = commands.add_parser("stats", help="chunks, sources and metadata values in the index")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(handler=run_stats)
    worker = commands.add_parser(
        "worker",
        help="run ingest job workers alone (servers with DOCUMENT_WORKERS=0 queue the jobs)",
    )
    worker.add_argument("--threads", type=int, default=1, help="jobs run at once")
    worker.set_defaults(handler=run_worker)


def _settings(settings: Settings | None) -> Settings:
    from chains.models.embedding_model import check_embedding_model
    from settings import get_settings

    settings = settings or get_settings()
    check_embedding_model(settings)
    return settings


def run_ingest(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from chains.index.backend import IndexUnavailable
    from chains.ingest.pipeline import delete_source, ingest, parse_meta

    settings = _settings(settings)
    try:
        if args.delete:
            if args.paths or args.meta or args.rebuild:
                raise ValueError("--delete takes no paths, --meta or --rebuild")
            removed = delete_source(settings, args.delete)
            print(f"removed {removed} chunks of {args.delete}")
            return 0
        if not args.paths:
            raise ValueError("give at least one PATH (or --delete SOURCE)")
        report = ingest(
            settings,
            args.paths,
            meta=parse_meta(args.meta),
            progress=not args.no_progress,
            rebuild=args.rebuild,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"ragchat ingest: {exc}", file=sys.stderr)
        return 2
    except IndexUnavailable as exc:
        print(f"ragchat ingest: {exc}", file=sys.stderr)
        return 1
    loading = f", after {report.model_seconds:.1f} s loading models" if report.model_seconds else ""
    if report.backend:
        loading += f"; embedded with {report.backend}"
    print(
        f"ingested {report.files} files, {report.chunks} chunks in {report.seconds:.1f} s "
        f"({report.chunks_per_second:.1f} chunks/s{loading})"
    )
    for source, error in report.errors.items():
        print(f"  failed: {source}: {error}", file=sys.stderr)
    if report.skipped:
        print(f"  skipped {len(report.skipped)} unsupported files", file=sys.stderr)
    return 1 if report.errors else 0


def run_stats(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from chains.index.backend import IndexUnavailable
    from chains.ingest.pipeline import index_stats

    settings = _settings(settings)
    try:
        stats = index_stats(settings)
    except IndexUnavailable as exc:
        print(f"ragchat stats: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
    else:
        print(format_stats(stats))
    return 0


def format_stats(stats: dict[str, Any]) -> str:
    lines = [f"{stats.get('chunks', 0)} chunks from {stats.get('sources', 0)} sources"]
    for key, column in stats.get("metadata", {}).items():
        values = ", ".join(f"{v} ({n})" for v, n in column["values"].items())
        more = " ..." if column["distinct"] > len(column["values"]) else ""
        lines.append(
            f"  {key}: {column['records']} chunks, {column['distinct']} values: {values}{more}"
        )
    return "\n".join(lines)


def run_worker(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Take jobs until Ctrl-C or SIGTERM; a running job goes back to the queue on exit."""
    import logging
    import signal
    import threading

    from chains.documents.service import Documents
    from chains.documents.worker import JobWorker

    settings = _settings(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    documents = Documents(settings)
    worker = JobWorker(settings, documents.queue, documents.jobs, store=documents.store)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker.start(max(1, args.threads))
    print(f"ragchat worker {worker.name}: {args.threads} thread(s), waiting for jobs", flush=True)
    stop.wait()
    worker.stop()
    return 0
