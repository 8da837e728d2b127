"""schemathesis against the live server's own OpenAPI document: no 5xx, no hangs.

The model is a fake (fixed words, no delay): this fuzzes the HTTP surface, the
validation and the storage paths, not the model.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.processes import backend

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    from chains.ingest import ingest
    from settings import Settings

    # A small real index, so the RAG routes are exercised rather than refused with 503.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cats.md").write_text("# Cats\n\nCats sleep about sixteen hours a day.\n")
    (docs / "dogs.md").write_text("# Dogs\n\nDogs need a walk twice a day.\n")
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    assert ingest(settings, [docs], meta={"year": 2024}, progress=False).chunks == 2
    with backend(
        tmp_path, app="bench.fake_server:create_fake_app", BENCH_FAKE_TOKENS="8", MAX_BATCH_SIZE="4"
    ) as url:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "12",
                "--request-timeout",
                "20",
                "--generation-deterministic",
                "--suppress-health-check",
                "all",
                "--no-color",
            ],
            cwd=tmp_path,  # schemathesis writes a .schemathesis/ folder where it runs
            capture_output=True,
            text=True,
            timeout=600,
        )
        (tmp_path / "schemathesis.txt").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, result.stdout[-6000:]
        counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
        assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 500
