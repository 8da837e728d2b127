"""One result row per measured figure, and the markdown table `make bench` writes."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    """A figure with its target; `ok` is None for figures reported without a target."""

    benchmark: str
    figure: str
    value: float | None
    unit: str
    target: str = "—"
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return "n/a"
        if self.ok is None:
            return "info"
        return "PASS" if self.ok else "MISS"

    @property
    def shown(self) -> str:
        if self.value is None:
            return self.note or "not measured"
        magnitude = abs(self.value)
        number = f"{self.value:,.0f}" if magnitude >= 100 else f"{self.value:.3g}"
        return f"{number} {self.unit}".strip()


def not_available(benchmark: str, reason: str) -> Row:
    """A row that says why a benchmark could not run (missing route, module, model)."""
    return Row(benchmark, "not run", None, "", note=reason)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a Markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def render_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | figure | measured | target | result | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        note = row.note if row.value is not None else ""
        cells = [row.benchmark, row.figure, row.shown, row.target, row.verdict, note]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's name, family and model, and its widest vector unit.

    Machines of one kind differ (Zen 3 without AVX-512, Zen 4 with it, Intel with AMX),
    and `model name` alone often says only "AMD EPYC": every timing needs this beside it.
    """
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return "unknown CPU"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first CPU is enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    if "avx512f" in flags:
        extras = [name for flag, name in _AVX512_EXTRAS if flag in flags]
        vectors = "AVX-512" + (f" ({', '.join(extras)})" if extras else "")
    else:
        vectors = "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    if any(flag.startswith("amx") for flag in flags):
        vectors += ", AMX"
    name = fields.get("model name", "unknown CPU")
    family, model = fields.get("cpu family"), fields.get("model")
    where = f" family {family} model {model}" if family and model else ""
    return f"{name}{where}, {vectors}"


_AVX512_EXTRAS = (
    ("avx512_vnni", "VNNI"),
    ("avx512vbmi", "VBMI"),
    ("avx512_bf16", "BF16"),
)


def render_report(
    rows: list[Row], elapsed_s: float, notes: list[str], appendix: list[str] | None = None
) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    misses = sum(row.verdict == "MISS" for row in rows)
    lines = [
        "# ragchat benchmarks",
        "",
        f"{stamp} · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"{elapsed_s:.0f} s · {misses} miss(es)",
        "",
        f"CPU: {cpu_description()}.",
        "",
        "Every figure is a median over repeated runs; comparisons are measured side by side "
        "in the same run. Plot: `concurrency.png`.",
        "",
        *(f"- {note}" for note in notes),
        "",
        render_table(rows),
        "",
    ]
    if appendix:
        lines += ["## Appendix: full tables of the retrieval benches", "", *appendix]
    return "\n".join(lines) + "\n"


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over `seconds` (from /proc/stat): other people's load,
    when sampled while no benchmark runs. NaN where /proc/stat does not exist."""
    import time

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return math.nan
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def run_cli(main: Callable[[bool], list[Row]], description: str | None) -> None:
    """`python -m bench.<name> [--quick]`: run one benchmark and print its table."""
    import argparse

    from bench.launch import stop_servers_on_sigterm

    stop_servers_on_sigterm()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="one tiny iteration (smoke test)")
    args = parser.parse_args()
    print(render_table(main(args.quick)))
