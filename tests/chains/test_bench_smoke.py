"""One tiny iteration of each retrieval bench, so the scripts keep working (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["retrieval_quality.py", "retrieval_latency.py"])
def test_bench_runs_quick(script, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")  # models come from MODELS_DIR (tests/conftest.py)
    out = tmp_path_factory.mktemp("bench") / "table.md"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / script),
            "--quick",
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = out.read_text()
    assert "| onnx-int8 |" in table and "| torch |" in table
    assert table.count("|") > 20
