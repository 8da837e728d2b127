"""Run a benchmark script that prints markdown tables, and lift its headline figures.

The retrieval benches (`retrieval_latency.py`, `retrieval_quality.py`) are
scripts with `--quick` and `--out`: they run in their own process, their full
tables go into an appendix of `latest.md`, and a few figures become rows of
the main table.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench.report import Row

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ScriptResult:
    markdown: str
    rows: list[Row]


def parse_tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every markdown table as a list of {header: cell} dicts."""
    tables: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in [*markdown.splitlines(), ""]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.strip().startswith("|"):
            header = None
        elif header is None:
            header = cells
            tables.append([])
        elif not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
            tables[-1].append(dict(zip(header, cells, strict=False)))
    return tables


def number(cell: str) -> float | None:
    match = re.search(r"-?\d[\d,]*\.?\d*", cell or "")
    return float(match.group().replace(",", "")) if match else None


def run_script(module: str, quick: bool, timeout: float = 900.0, args: tuple[str, ...] = ()) -> str:
    """`python -m <module> [--quick] --out <file> [args]`; the file's markdown."""
    with tempfile.TemporaryDirectory(prefix="bench-ext-") as tmp:
        out = Path(tmp) / "table.md"
        argv = [sys.executable, "-m", module, "--out", str(out), *(["--quick"] if quick else [])]
        argv += args
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{module} exited {done.returncode}: {done.stderr[-600:]}")
        return out.read_text(encoding="utf-8")


def run_external(
    module: str,
    quick: bool,
    headline: Callable[[list[list[dict[str, str]]]], list[Row]],
    label: str,
    args: tuple[str, ...] = (),
) -> ScriptResult:
    markdown = run_script(module, quick, args=args)
    try:
        rows = headline(parse_tables(markdown))

    except (KeyError, IndexError, ValueError):
        rows = []
    if not rows:
        rows = [Row(label, "see the appendix", None, "", note="tables in the appendix below")]
    return ScriptResult(markdown, rows)


def retrieval_latency_rows(tables: list[list[dict[str, str]]]) -> list[Row]:
    """p50 search latency per index size and case, and ingest chunks/s per backend."""
    rows = []
    wanted = (
        "numpy floor: dense + mask",
        "index: dense",
        "index: hybrid",
        "index: hybrid + filter",
    )
    for table in tables:
        for record in table:
            if record.get("what") in wanted:
                p50 = number(record["p50 ms"])
                # The target: hybrid + filter at 100k chunks within 10 ms on 2 cores.
                judged = (
                    record["what"] == "index: hybrid + filter" and record["chunks"] == "100,000"
                )
                rows.append(
                    Row(
                        "retrieval latency",
                        f"{record['what']} p50 @ {record['chunks']}",
                        p50,
                        "ms",
                        target="≤ 10 ms" if judged else "—",
                        ok=(p50 is not None and p50 <= 10) if judged else None,
                        note=f"p95 {record.get('p95 ms', '?')} ms"
                        + (
                            f", {record.get('p50 / floor with mask')} the numpy floor"
                            if judged
                            else ""
                        ),
                    )
                )
            elif "chunks/s" in record:
                per_second = number(record["chunks/s"])
                chosen = record["embeddings"].endswith("(auto)")
                rows.append(
                    Row(
                        "ingest throughput",
                        f"samples/ end to end, {record['embeddings']}",
                        per_second,
                        "chunks/s",
                        target="≥ 100" if chosen else "—",
                        ok=(per_second or 0) >= 100 if chosen else None,
                        note=f"{record.get('chunks')} chunks of {record.get('avg chars')} "
                        f"chars in {record.get('seconds')} s",
                    )
                )
    return rows


def retrieval_quality_rows(tables: list[list[dict[str, str]]]) -> list[Row]:
    """The test half's figures per rule, and the verdicts of the shipped settings."""
    rows = []
    test_half = tables[-2] if len(tables) >= 2 else []
    for record in test_half:
        rows.append(
            Row(
                "retrieval quality",
                f"test half R@5, {record['rule']}",
                number(record.get("all R@5", "")),
                "",
                note=", ".join(f"{k} {v}" for k, v in record.items() if k != "rule"),
            )
        )
    for record in tables[-1] if tables else []:
        if "verdict" in record:
            rows.append(
                Row(
                    "retrieval quality",
                    f"test half: {record['target']}",
                    number(record["measured"]),
                    "",
                    target=record["target"],
                    # "information" rows (the bootstrap intervals) carry no target
                    ok={"PASS": True, "MISS": False}.get(record["verdict"]),
                    note=record["measured"],
                )
            )
    return rows


def opt_in_embedder_rows(tables: list[list[dict[str, str]]]) -> list[Row]:
    """The same verdicts with EMBEDDING_MODEL=all-mpnet-base-v2: information, not the default's."""
    return [
        replace(
            row,
            benchmark="retrieval quality, all-mpnet-base-v2 (opt-in)",
            ok=None,
            note=f"{row.verdict}: {row.note}" if row.ok is not None else row.note,
        )
        for row in retrieval_quality_rows(tables)
        if row.target != "—"  # the verdicts; the per-rule rows are in the appendix
    ]
