"""Which llama.cpp build the local model loads: one compiled for this CPU, or portable.

`make install` compiles llama.cpp for this CPU's AVX-512 family (`cpu_flags`) into the
virtual environment and, beside it, a portable AVX2 build under `llama-portable/`; on a CPU
with AMX also an AMX build under `llama-amx/` (patched, `cpu_flags`). A build compiled for
one CPU can still die on another of the same machine kind (unpatched AMX kernels died on
their first tile instruction), and a crash in llama.cpp kills the whole process, so the
builds are tried in child processes first: each loads the model and evaluates a prompt,
and the fastest one that survives is chosen, once per CPU, model and build
(`chains.models.measured_choice`). The portable build is the fallback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chains.llm.errors import LLMUnavailable
from chains.models.measured_choice import fastest
from settings import Settings

log = logging.getLogger("ragchat.llm")

BUILDS_RECORD = "llama-builds.json"  # written by `make install` into the venv
PORTABLE_FOLDER = "llama-portable"
AMX_FOLDER = "llama-amx"
# The order builds are probed and reported in; the portable build comes first: it is what
# remains when the others fail.
BUILD_ORDER = ("portable", "tuned", "amx")
PROBE_TOKENS = 128

# The child: load the model, evaluate a prompt, print the seconds it took and the build's
# instruction sets. Run with `python -c`; it must not import the project.
_PROBE = """
import sys, time, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=512, n_threads=int(sys.argv[2]),
                      n_batch=512, verbose=False)
tokens = llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 40)[:int(sys.argv[3])]
best = float("inf")
for _ in range(2):
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    best = min(best, time.perf_counter() - started)
print(best)
print(llama_cpp.llama_print_system_info().decode())
"""


@dataclass(frozen=True)
class LlamaBuild:
    """One compiled llama.cpp: its CMake flags and where its package lies."""

    name: str
    """`tuned` (this CPU's AVX-512 family), `amx` (the same plus AMX), `portable` (AVX2), or
    `installed` (the only one)."""
    cmake_args: str
    folder: Path | None
    """Put first on `sys.path` to load this build; None: the venv's own package."""


@dataclass(frozen=True)
class BuildChoice:
    build: LlamaBuild
    note: str
    """What was chosen and why, for the log and `/ready`."""


CHOSEN: BuildChoice | None = None
"""The build this process loaded, once the local model chose one."""


def installed_builds(prefix: Path | None = None) -> dict[str, LlamaBuild]:
    """The builds `make install` left in the venv; one `installed` build elsewhere (an image)."""
    prefix = prefix or Path(sys.prefix)
    try:
        record = json.loads((prefix / BUILDS_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"installed": LlamaBuild("installed", "", None)}
    tuned, portable = str(record.get("tuned", "")), str(record.get("portable", ""))
    if tuned == portable:  # this CPU has nothing beyond the portable flags: one build
        return {"portable": LlamaBuild("portable", portable, None)}
    builds = {"tuned": LlamaBuild("tuned", tuned, None)}
    folder = prefix / PORTABLE_FOLDER
    if (folder / "llama_cpp").is_dir():
        builds["portable"] = LlamaBuild("portable", portable, folder)
    amx, folder = str(record.get("amx", "")), prefix / AMX_FOLDER
    if amx and (folder / "llama_cpp").is_dir():
        builds["amx"] = LlamaBuild("amx", amx, folder)
    return builds


class ProbeFailed(RuntimeError):
    """A build died or failed while loading the model or evaluating a prompt."""


def probe(build: LlamaBuild, gguf: Path, threads: int, timeout: float = 300.0) -> float:
    """Seconds the build takes to evaluate PROBE_TOKENS of the model, in a child process."""
    env = dict(os.environ)
    if build.folder is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(build.folder), env.get("PYTHONPATH")])
        )
    argv = [sys.executable, "-c", _PROBE, str(gguf), str(threads), str(PROBE_TOKENS)]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ProbeFailed(
            f"the {build.name} build did not evaluate a prompt in {timeout:g} s"
        ) from None
    if done.returncode != 0:
        raise ProbeFailed(f"the {build.name} build {_how_it_ended(done.returncode)}")
    seconds, _, info = done.stdout.strip().partition("\n")
    log.info("llama.cpp %s build: %s", build.name, info.strip())
    return float(seconds)


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        with_name = (
            signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        )
        return f"died with signal {-returncode} {with_name}".rstrip()
    return f"exited with status {returncode}"


def choose_build(settings: Settings, gguf: Path) -> BuildChoice:
    """The build to load for `gguf`, per LLAMA_BUILD (auto: the fastest that survives)."""
    builds = installed_builds()
    if len(builds) == 1:
        (only,) = builds.values()
        return BuildChoice(only, f"the one {only.name} build installed")
    if settings.llama_build != "auto":
        if settings.llama_build not in builds:
            raise LLMUnavailable(
                f"LLAMA_BUILD={settings.llama_build}: not installed here "
                f"(this install has {', '.join(builds)}; `make install` builds what this CPU runs)"
            )
        return BuildChoice(builds[settings.llama_build], f"LLAMA_BUILD={settings.llama_build}")
    threads = settings.llm_threads or os.cpu_count() or 1
    key = {
        "model": gguf.name,
        "size": gguf.stat().st_size,
        "threads": threads,
        "builds": {name: build.cmake_args for name, build in builds.items()},
    }
    failures: dict[str, str] = {}

    def timing(build: LlamaBuild) -> float:
        try:
            return probe(build, gguf, threads)
        except ProbeFailed as exc:
            failures[build.name] = str(exc)
            raise

    order = [name for name in BUILD_ORDER if name in builds]
    candidates = {name: (lambda b=builds[name]: timing(b)) for name in order}
    path = settings.resolved_models_dir / "measured" / f"llama-build-{gguf.stem}.json"
    name, seconds = fastest(path, key, candidates)
    rates = ", ".join(f"{n} {PROBE_TOKENS / s:.0f} tok/s" for n, s in seconds.items())
    note = f"{name} build, the fastest here ({rates})"
    died = [failures.get(n, f"the {n} build failed its probe") for n in order if n not in seconds]
    if died:
        note = f"{'; '.join(died)}: running the {name} build ({rates})"
        log.warning("llama.cpp: %s", note)
    return BuildChoice(builds[name], note)


def activate(choice: BuildChoice) -> None:
    """Make `import llama_cpp` load the chosen build.

    A process that already imported llama.cpp (a test process, a tool that converted
    weights first) cannot load another copy: it keeps the one it has, and the note says so.
    """
    global CHOSEN
    folder = choice.build.folder
    loaded = sys.modules.get("llama_cpp")
    if loaded is not None:
        origin = Path(loaded.__file__ or "").resolve()
        if folder is None or folder.resolve() not in origin.parents:
            kept = _build_at(origin)
            if kept != choice.build:
                note = f"{choice.build.name} chosen, but llama.cpp was already loaded here"
                choice = BuildChoice(kept, f"{note}: the {kept.name} build runs")
                log.warning("llama.cpp: %s", choice.note)
    elif folder is not None and str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    CHOSEN = choice
    log.info("llama.cpp: %s", choice.note)


def _build_at(origin: Path) -> LlamaBuild:
    """The installed build a loaded `llama_cpp` module file belongs to."""
    builds = installed_builds()
    for build in builds.values():
        if build.folder is not None and build.folder.resolve() in origin.parents:
            return build
    venv_own = [b for b in builds.values() if b.folder is None]
    return venv_own[0] if venv_own else LlamaBuild("installed", "", None)


def loaded_build() -> dict[str, object] | None:
    """The build this process loaded and what it was compiled for, for `/health`."""
    if CHOSEN is None or "llama_cpp" not in sys.modules:
        return None
    return {"build": CHOSEN.build.name, "note": CHOSEN.note, "features": _compiled_features()}


@functools.cache
def _compiled_features() -> list[str]:
    """The instruction sets llama.cpp reports (`X = 1`): fixed once the library loaded."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    return sorted(set(re.findall(r"(\w+) = 1", info)))
