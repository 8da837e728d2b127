"""`bench.run_all`'s report: what a run that stops early keeps, and the CPU it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import run_all
from bench.report import Row, cpu_description

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma f16c

processor\t: 1
model name\t: something else
"""


def test_cpu_description_names_family_model_and_vector_unit(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(ZEN3)
    assert cpu_description(info) == "AMD EPYC family 25 model 1, AVX2, no AVX-512"
    info.write_text(
        ZEN3.replace("model\t\t: 1", "model\t\t: 17").replace(
            "f16c", "f16c avx512f avx512bw avx512_vnni avx512_bf16"
        )
    )
    assert cpu_description(info) == "AMD EPYC family 25 model 17, AVX-512 (VNNI, BF16)"
    info.write_text(ZEN3.replace("f16c", "f16c avx512f amx_tile amx_int8"))
    assert cpu_description(info).endswith("AVX-512, AMX")
    assert cpu_description(tmp_path / "missing") == "unknown CPU"


def test_a_stopped_run_keeps_the_finished_benchmarks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report is rewritten after each benchmark, marked partial until the last."""
    benches = [run_all.Benchmark(label, f"bench.{label}") for label in ("first", "second")]
    monkeypatch.setattr(run_all, "BENCHMARKS", benches)

    def run_one(bench: run_all.Benchmark, quick: bool, results_dir: Path) -> run_all.Outcome:
        if bench.label == "second":
            raise KeyboardInterrupt  # the run is stopped during the second benchmark
        return run_all.Outcome([Row(bench.label, "a figure", 1.5, "s")])

    monkeypatch.setattr(run_all, "run_one", run_one)
    out = tmp_path / "latest.md"
    with pytest.raises(KeyboardInterrupt):
        run_all.main(["--out", str(out)])
    report = out.read_text()
    assert "| first | a figure | 1.5 s |" in report
    assert "PARTIAL: 1 of 2 benchmarks so far" in report
    assert "CPU: " in report


def test_a_finished_run_is_not_marked_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    benches = [run_all.Benchmark(label, f"bench.{label}") for label in ("first", "second")]
    monkeypatch.setattr(run_all, "BENCHMARKS", benches)
    monkeypatch.setattr(
        run_all,
        "run_one",
        lambda bench, quick, results_dir: run_all.Outcome([Row(bench.label, "x", 2.0, "s")]),
    )
    out = tmp_path / "latest.md"
    assert run_all.main(["--out", str(out)]) == 0
    report = out.read_text()
    assert "| second | x | 2 s |" in report
    assert "PARTIAL" not in report


def test_an_unknown_label_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_all.main(["--only", "no such benchmark"])
    assert exited.value.code == 2
    assert "no benchmark is labelled 'no such benchmark'" in capsys.readouterr().err
