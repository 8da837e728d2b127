"""schemathesis against the live server's own OpenAPI document: no 5xx, no hangs.

The model is a fake (fixed words, no delay): this fuzzes the HTTP surface, the
validation and the storage paths, not the model.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import backend

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
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
                "--exclude-path-regex",
                "playground",
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
        assert "not_a_server_error" in result.stdout
