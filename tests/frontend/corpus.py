"""A small real corpus for the frontend's integration tests: a few sample pages, ingested
with the project's own ingest into a backend's DATA_DIR before that backend starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import REPO

# (path under samples/, metadata): two topics, so a filter has something to tell apart.
CORPUS = (
    ("samples/tutorial/venv.md", {"topic": "tutorial", "year": 2023}),
    ("samples/howto/sockets.md", {"topic": "howto", "year": 2024}),
)


def ingest_corpus(data_dir: Path, timeout: float = 240.0) -> None:
    """Run `chains.ingest.ingest` in a child process, as `ragchat ingest` does."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from chains.ingest import ingest\n"
        "from settings import Settings\n"
        "settings = Settings(data_dir=Path(sys.argv[1]), _env_file=None)\n"
        "for path, meta in json.loads(sys.argv[2]):\n"
        "    report = ingest(settings, [path], meta=meta, progress=False)\n"
        "    assert report.chunks and not report.errors, report\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(data_dir), json.dumps(CORPUS)],
        cwd=REPO, check=True, timeout=timeout, capture_output=True,
    )
