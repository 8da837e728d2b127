"""Each benchmark once in quick mode (a tiny iteration), so `bench/` does not rot.

The figures of a quick run mean nothing; these tests check that every benchmark
still starts its server, drives it and returns finite numbers.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import Row

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


def assert_measured(rows: list[Row], expected_figures: int) -> None:
    assert len(rows) >= expected_figures, rows
    for row in rows:
        assert row.value is not None and math.isfinite(row.value), row
        assert row.verdict in {"PASS", "MISS", "info"}, row


def test_graph_overhead_quick() -> None:
    from bench import graph_overhead

    rows = graph_overhead.main(quick=True)
    assert_measured(rows, 5)
    by_figure = {row.figure: row.value for row in rows}
    # The full graph does strictly more work than the bare model route.
    assert by_figure["TTFT p50, /chat (history + 10k-chunk hybrid retrieval)"] > 0


def test_concurrency_quick_writes_the_plot(tmp_path: Path) -> None:
    from bench import concurrency

    plot = tmp_path / "concurrency.png"
    rows = concurrency.main(quick=True, plot_path=plot)
    assert_measured(rows, 7)
    errors = next(row for row in rows if row.figure == "errors, all levels")
    assert errors.value == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def small_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small preset, for benchmarks whose quick run checks mechanics, not answers (and
    for the servers they start, which inherit the environment)."""
    monkeypatch.setenv("LLM_MODEL", "smollm2-135m")


def test_streaming_overhead_quick(small_model: None) -> None:
    # The server on the small preset too: its direct side is always the bundled GGUF
    # (SmolLM2), so both sides now run the same model, as the benchmark's docstring says.
    from bench import streaming_overhead

    rows = streaming_overhead.main(quick=True)
    assert_measured(rows, 6)
    assert all(row.value > 0 for row in rows if row.unit == "tok/s"), rows  # type: ignore[operator]


def test_real_model_quick(small_model: None) -> None:
    from bench import real_model

    rows = real_model.main(quick=True)
    # The tiny model sometimes answers nothing at all (8 tokens allowed here): a figure that
    # needs an answer may then be absent, and must say so instead of showing a number.
    assert_measured([row for row in rows if row.value is not None], 4)
    assert len(rows) == 7
    assert all(row.note for row in rows if row.value is None), rows


@pytest.mark.timeout(900)  # four servers: one at a time, kept states off, batched, 2 workers
def test_model_queue_quick(small_model: None) -> None:
    from bench import model_queue

    rows = model_queue.main(quick=True)
    assert_measured(rows, 10)
    assert any("every first answer" in row.figure and row.ok for row in rows), rows
    batched = [r for r in rows if r.figure.startswith("LLM_PARALLEL=4: ") and "in line" in r.figure]
    assert batched and all(r.value and r.value > 0 for r in batched), rows
    workers = [r for r in rows if r.figure == "2 workers: all answers together tokens/s"]
    assert workers and workers[0].value and workers[0].value > 0, rows


def test_model_soak_quick(small_model: None) -> None:
    from bench import model_soak

    rows = model_soak.main(quick=True)
    assert_measured(rows, 9)
    asked = rows[0]
    assert asked.value and asked.value >= 2 and "smollm2-135m" in asked.note, asked
    assert all(row.verdict != "MISS" for row in rows), rows


def test_llm_speed_quick(small_model: None) -> None:
    from bench import llm_speed

    rows = llm_speed.main(quick=True)
    assert next(r for r in rows if r.figure == "model").note == "model smollm2-135m"
    rates = {r.figure: r.value for r in rows if r.unit == "tok/s"}
    assert set(rates) >= {"generation, shipped", "generation, q8_0", "generation, f16"}
    assert "generation in RAG answers, prompt lookup, 10 drafted" in rates
    assert all(v is not None and v > 0 for v in rates.values()), rates
    picked = next(r for r in rows if r.figure == "LLM_WEIGHTS=auto picks")
    assert picked.note in ("shipped", "q8_0", "f16")
    ttft = [r for r in rows if r.figure.startswith("RAG turn TTFT")]
    assert len(ttft) == 2 and all(r.value and r.value > 0 for r in ttft)
    figures = {r.figure: r.value for r in rows}
    # The system turn is shared by every RAG prompt: the KV cache keeps it between turns.
    reused = figures["prompt tokens reused from the KV cache p50"]
    assert reused and 0 < reused < figures["RAG turn prompt tokens p50"]


def test_batched_decode_quick(small_model: None) -> None:
    from bench import batched_decode

    rows = batched_decode.main(quick=True)
    assert next(r for r in rows if r.figure == "setup").note.startswith("SmolLM2")
    assert_measured([r for r in rows if r.value is not None], 10)
    same = next(r for r in rows if r.figure.startswith("batched answers identical"))
    assert same.value is not None and same.value > 0  # each sequence reads its own KV


@pytest.mark.timeout(600)  # two servers on the real model; 181 s measured on a busy machine
def test_answer_quality_quick() -> None:
    from bench import answer_quality

    rows = answer_quality.main(quick=True)
    figures = {r.figure: r for r in rows}
    chat = figures["/chat, test half: accuracy"]
    assert chat.verdict in ("PASS", "MISS") and 0.0 <= chat.value <= 1.0
    assert figures["/chat, test half: prompt tokens p50"].value > 20
    assert figures["/formatted, test half: prompt tokens p50"].value > 5
    assert figures["/chat, test half: TTFT p50 first question"].value > 0
    endpoint = [r for r in rows if r.figure.startswith("endpoint provider")]
    assert len(endpoint) == 6 and any(r.verdict in ("PASS", "MISS") for r in endpoint)


def test_openai_streaming_quick() -> None:
    from bench import openai_streaming

    rows = openai_streaming.main(quick=True)
    if rows[0].figure == "not run":
        pytest.skip(rows[0].note)
    assert_measured(rows, 3)


def test_run_all_writes_one_table(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run_all",
            "--quick",
            "--only",
            "concurrency",
            "--only",
            "no such benchmark",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = out.read_text()
    assert "| concurrency | TTFT p95 @ 10 clients |" in table
    assert "QUICK MODE" in table


def test_upload_speed_quick(small_model: None) -> None:
    # Uploads never reach the LLM: the server need not load the shipped default for them.
    from bench import upload_speed

    rows = upload_speed.main(quick=True)
    assert_measured(rows, 3)
    assert all(row.value > 0 for row in rows), rows  # type: ignore[operator]


def test_context_recall_quick() -> None:
    """Both labelled sets' test halves, at the budgets /chat would give each question."""
    from bench import context_recall

    rows = context_recall.main(quick=True)
    figures = {r.figure: r for r in rows}
    for label in ("answers.jsonl", "release notes"):
        shipped = figures[f"{label}, test half: fact in the prompt's passages, shipped budgets"]
        assert 0.0 <= shipped.value <= 1.0  # type: ignore[operator]
        assert shipped.target == "≥ 0.90"
        retrieved = figures[f"{label}, test half: fact among the 5 retrieved chunks"]
        assert shipped.value <= retrieved.value  # type: ignore[operator]
        assert figures[f"{label}, test half: passage block p50, shipped budgets"].value > 0  # type: ignore[operator]


def test_release_notes_quick() -> None:
    from bench import release_notes

    rows = release_notes.main(quick=True)
    figures = {r.figure: r for r in rows}
    assert 0.0 <= figures["/chat, test half: answer right"].value <= 1.0
    assert 0.0 <= figures["/formatted (closed book), tune half: answer right"].value <= 1.0
    shipped = "section chunks, BM25 title + headings (shipped), test: right release R@5"
    assert 0.0 <= figures[shipped].value <= 1.0
