"""A small real corpus for the frontend's integration tests: a few sample pages, ingested
with `ragchat ingest` into a backend's DATA_DIR before that backend starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.utils.processes import REPO

# (path under the repository, metadata): two topics, so a filter has something to tell apart.
CORPUS = (
    ("samples/tutorial/venv.md", {"topic": "tutorial", "year": 2023}),
    ("samples/howto/sockets.md", {"topic": "howto", "year": 2024}),
)


def ingest_corpus(data_dir: Path, timeout: float = 300.0) -> None:
    """One `python -m cli ingest PATH --meta k=v ...` per entry, as a user would run it."""
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    for path, meta in CORPUS:
        flags = [arg for key, value in meta.items() for arg in ("--meta", f"{key}={value}")]
        subprocess.run(
            [sys.executable, "-m", "cli", "ingest", path, *flags, "--no-progress"],
            cwd=REPO,
            env=env,
            check=True,
            timeout=timeout,
            capture_output=True,
        )
