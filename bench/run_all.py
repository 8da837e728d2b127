"""`make bench`: every benchmark in turn, one table in `bench/results/latest.md`.

Benchmarks run one after another, never together: each would steal the other's
two cores. Before each one, the runner samples how busy the machine already is
(other processes skew every figure) and writes it into the report. A benchmark
that fails or does not exist yet becomes a row saying so; the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.external import (
    opt_in_embedder_rows,
    retrieval_latency_rows,
    retrieval_quality_rows,
    run_external,
)
from bench.launch import stop_servers_on_sigterm
from bench.report import RESULTS_DIR, Row, machine_busy, not_available, render_report

IDLE = 0.25  # fraction of the CPU others may use while we measure


@dataclass(frozen=True)
class Benchmark:
    """A module with `main(quick) -> list[Row]`, or a table-printing script (`headline`)."""

    label: str
    module: str
    headline: Callable[[list[list[dict[str, str]]]], list[Row]] | None = None
    args: tuple[str, ...] = ()  # for a script: its own arguments


# Cheap to costly. 4-5 and retrieval quality are the retrieval engineer's scripts.
BENCHMARKS = [
    Benchmark("graph overhead", "bench.graph_overhead"),
    Benchmark("concurrency", "bench.concurrency"),
    Benchmark("streaming overhead", "bench.streaming_overhead"),
    Benchmark("openai streaming", "bench.openai_streaming"),
    Benchmark("retrieval latency + ingest", "bench.retrieval_latency", retrieval_latency_rows),
    Benchmark("retrieval quality", "bench.retrieval_quality", retrieval_quality_rows),
    Benchmark(
        "retrieval quality, all-mpnet-base-v2 (opt-in)",
        "bench.retrieval_quality",
        opt_in_embedder_rows,
        ("--embedding-model", "all-mpnet-base-v2"),
    ),
    Benchmark("upload to searchable", "bench.upload_speed"),
    Benchmark("context recall", "bench.context_recall"),
    Benchmark("real model end to end", "bench.real_model"),
    Benchmark("llama.cpp builds", "bench.llama_builds"),
    Benchmark("several askers on one model", "bench.model_queue"),
    Benchmark("batched generation", "bench.batched_decode"),
    Benchmark("soak on the real model", "bench.model_soak"),
    Benchmark("llm speed", "bench.llm_speed"),
    Benchmark("answer quality", "bench.answer_quality"),
    Benchmark("release notes: answers in titles and headings", "bench.release_notes"),
]


@dataclass
class Outcome:
    rows: list[Row]
    appendix: list[str] = field(default_factory=list)


def run_one(bench: Benchmark, quick: bool, results_dir: Path) -> Outcome:
    if importlib.util.find_spec(bench.module) is None:
        path = bench.module.replace(".", "/") + ".py"
        return Outcome([not_available(bench.label, f"{path} does not exist yet")])
    try:
        if bench.headline is not None:
            result = run_external(bench.module, quick, bench.headline, bench.label, bench.args)
            return Outcome(result.rows, [f"### {bench.label}", "", result.markdown])
        module = importlib.import_module(bench.module)
        if "plot_path" in inspect.signature(module.main).parameters:
            return Outcome(list(module.main(quick, plot_path=results_dir / "concurrency.png")))
        return Outcome(list(module.main(quick)))
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
        traceback.print_exc()
        return Outcome([not_available(bench.label, f"failed: {type(exc).__name__}: {exc}"[:300])])


def wait_for_idle(max_wait_s: float) -> tuple[float, float]:
    """How busy the machine is, and how long we waited for it to calm down (`max_wait_s`)."""
    started = time.monotonic()
    busy = machine_busy()
    while busy > IDLE and time.monotonic() - started < max_wait_s:
        busy = machine_busy(2.0)
    return busy, time.monotonic() - started


def run_notes(busy: list[str], total_wait: float, quick: bool) -> list[str]:
    """The report's notes: how busy the machine was before each benchmark, and waits."""
    notes = [
        "CPU busy with other processes just before each benchmark (should be near 0 %): "
        + ", ".join(busy),
    ]
    if total_wait >= 1.5 * len(busy) + 1:
        notes.append(f"Waited {total_wait:.0f} s in all for the machine to be idle (--wait-idle).")
    if quick:
        notes.append("QUICK MODE: one tiny iteration each; the figures mean nothing.")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one tiny iteration of each")
    parser.add_argument("--only", action="append", help="run only this label (repeatable)")
    parser.add_argument(
        "--out",
        type=Path,
        help="default: bench/results/latest.md "
        "(bench/results/quick/latest.md with --quick); the plot goes beside it",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each benchmark, wait up to this long for the machine to "
        f"be under {IDLE:.0%} busy (shared machines, CI)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out or (RESULTS_DIR / "quick" if args.quick else RESULTS_DIR) / "latest.md"
    stop_servers_on_sigterm()
    started = time.perf_counter()
    rows: list[Row] = []
    appendix: list[str] = []
    busy: list[str] = []
    total_wait = 0.0
    chosen = [b for b in BENCHMARKS if not args.only or b.label in args.only]
    if not chosen:
        parser.error(f"no benchmark is labelled {' or '.join(map(repr, args.only))}")
    for done, bench in enumerate(chosen, start=1):
        before, waited = wait_for_idle(args.wait_idle)
        total_wait += waited
        print(f"[bench] {bench.label} (machine {before:.0%} busy before) ...", file=sys.stderr)
        lap = time.perf_counter()
        outcome = run_one(bench, args.quick, out.parent)
        rows += outcome.rows
        appendix += outcome.appendix
        busy.append(f"{bench.label} {before:.0%}")
        print(f"[bench] {bench.label}: {time.perf_counter() - lap:.0f} s", file=sys.stderr)
        # Written after every benchmark: a full run takes hours, and one that is stopped
        # or dies late keeps the figures it had, marked as partial.
        notes = run_notes(busy, total_wait, args.quick)
        if done < len(chosen):
            notes.append(f"PARTIAL: {done} of {len(chosen)} benchmarks so far; still running.")
        report = render_report(rows, time.perf_counter() - started, notes, appendix)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report, encoding="utf-8")
    print(report)
    print(f"[bench] wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
