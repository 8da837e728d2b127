"""Upload to searchable: the sample files through `POST /documents` and the job workers,
beside the same files through `ragchat ingest` in the same run (issue 17).

The CLI's figure is its own chunks/s, model loading apart. The API's clock runs from the
upload request to the moment the last job is done (the moment the documents are
searchable), against a server whose worker has already ingested one file (models loaded),
so both sides count the same work: read, split, embed, write the index. Runs alternate
(CLI, API, CLI, API, ...) so a busy moment of the machine hits both.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.launch import REAL_APP, serve
from bench.report import Row, run_cli
from chains.ingest.loaders import discover
from stack_plan import REPO

NAME = "upload to searchable"
TARGET = 1.10  # the API path may cost at most 10 % more than the CLI
_CLI_LINE = re.compile(r"ingested (\d+) files, (\d+) chunks in [\d.]+ s \(([\d.]+) chunks/s")


def sample_files(quick: bool) -> list[Path]:
    files, _ = discover([REPO / "samples"])
    paths = [f.path for f in files]
    return paths[:3] if quick else paths


def cli_run(files: list[Path], workdir: Path) -> tuple[int, float]:
    """(chunks, chunks/s of the work) as `ragchat ingest` prints them."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", "ingest", *map(str, files), "--no-progress"],
        cwd=REPO,
        env={**__import__("os").environ, "DATA_DIR": str(workdir)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    match = _CLI_LINE.search(done.stdout)
    if match is None:
        raise RuntimeError(f"unexpected ingest output: {done.stdout[-500:]} {done.stderr[-500:]}")
    return int(match.group(2)), float(match.group(3))


def api_run(url: str, files: list[Path]) -> tuple[int, float]:
    """(chunks, seconds from the upload request until every job is done)."""
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/documents",
        files=[("files", (p.name, p.read_bytes())) for p in files],
        timeout=300,
    )
    response.raise_for_status()
    pending = {job["id"] for job in response.json()["jobs"]}
    chunks = 0
    # One list call per poll, as the app does, not one call per job: the server's cores
    # belong to the workers.
    with httpx.Client(base_url=url, timeout=60) as client:
        while pending:
            time.sleep(0.1)
            listed = client.get("/jobs", params={"limit": 500}).json()["jobs"]
            for job in listed:
                if job["id"] not in pending:
                    continue
                if job["state"] in ("failed", "cancelled"):
                    raise RuntimeError(f"job {job['source']} {job['state']}: {job['error']}")
                if job["state"] == "done":
                    pending.discard(job["id"])
                    chunks += job["chunks_total"]
    return chunks, time.perf_counter() - started


def measure(quick: bool) -> dict[str, float]:
    files = sample_files(quick)
    rounds = 1 if quick else 3
    cli_seconds: list[float] = []
    api_seconds: list[float] = []
    chunks = 0
    with tempfile.TemporaryDirectory(prefix="ragchat-upload-") as tmp:
        root = Path(tmp)
        warm = root / "warm.md"
        warm.write_text("# Warm up\n\nLoads the embedding model in the worker.\n")
        (root / "api").mkdir()
        with serve(REAL_APP, root / "api") as server:
            api_run(server.url, [warm])
            for i in range(rounds):
                n, rate = cli_run(files, root / f"cli-{i}")
                cli_seconds.append(n / rate)
                n_api, seconds = api_run(server.url, files)  # a re-upload replaces each one
                if n_api != n:
                    raise RuntimeError(f"the API made {n_api} chunks, the CLI {n}")
                api_seconds.append(seconds)
                chunks = n
    return {
        "files": len(files),
        "chunks": chunks,
        "cli_s": statistics.median(cli_seconds),
        "api_s": statistics.median(api_seconds),
    }


def main(quick: bool = False) -> list[Row]:
    m = measure(quick)
    ratio = m["api_s"] / m["cli_s"]
    note = f"{m['files']:.0f} files, {m['chunks']:.0f} chunks; median of alternating runs"
    return [
        Row(NAME, "CLI ingest (work only)", m["chunks"] / m["cli_s"], "chunks/s", note=note),
        Row(NAME, "API upload → all jobs done", m["chunks"] / m["api_s"], "chunks/s", note=note),
        Row(NAME, "API time ÷ CLI time", ratio, "×", f"≤ {TARGET}", ratio <= TARGET, note),
    ]


if __name__ == "__main__":
    run_cli(main, __doc__)
