"""llama.cpp builds side by side: the ones compiled for this CPU against the portable one.

`make install` compiles llama-cpp-python twice on a CPU with AVX-512 (`chains/llm/cpu_flags.py`):
into the venv for this CPU's AVX-512 family, and portable (AVX2) under `.venv/llama-portable`;
on a CPU with AMX a third time, the AVX-512 flags plus AMX, under `.venv/llama-amx`.
This times each on the default model, in child processes (one llama.cpp each, as the server's
probe does), interleaved round by round so a busy spell hits every build: a prompt evaluated from
scratch, and generation after it. Medians over the rounds; the ratio is the figure the
issue asks for (target ≥ 1.3× for prompt evaluation).

    python -m bench.llama_builds [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.report import Row, not_available, run_cli
from bench.stats import median
from bench.synthetic_index import scratch_settings
from chains.llm.llama_build import BUILD_ORDER, LlamaBuild, installed_builds

NAME = "llama.cpp builds"
PROMPT_TOKENS = 300
GENERATED_TOKENS = 32

# One child per build and round: load, evaluate the prompt from scratch (best of 3), then
# generate greedily; print the build's instruction sets and both rates as JSON.
_CHILD = """
import json, sys, time, llama_cpp
path, threads, n_prompt, n_gen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=path, n_ctx=1024, n_threads=threads, n_batch=512, verbose=False)
text = b"The release notes list every change to the server, the client and the tools. " * 60
tokens = llm.tokenize(text)[:n_prompt]
prompt = []
for _ in range(3):
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    prompt.append(time.perf_counter() - started)
started = time.perf_counter()
for _ in range(n_gen):
    llm.eval([llm.sample(temp=0.0)])
generation = time.perf_counter() - started
info = llama_cpp.llama_print_system_info().decode()
features = sorted({p.split(" = ")[0].strip() for p in info.split("|") if p.strip().endswith("= 1")})
print(json.dumps({"prompt_tps": n_prompt / min(prompt), "gen_tps": n_gen / generation,
                  "features": features}))
"""


def run_build(build: LlamaBuild, gguf: Path, threads: int) -> dict[str, object]:
    env = dict(os.environ)
    if build.folder is not None:
        env["PYTHONPATH"] = str(build.folder)
    argv = [sys.executable, "-c", _CHILD, str(gguf), str(threads)]
    argv += [str(PROMPT_TOKENS), str(GENERATED_TOKENS)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> list[Row]:
    from chains.llm import LLMUnavailable
    from chains.llm.gguf import model_gguf

    builds = installed_builds()
    if "portable" not in builds:
        return [
            not_available(NAME, "one build only (no AVX-512 here, or not a `make install` venv)")
        ]
    with scratch_settings("bench-builds-") as settings:
        try:
            gguf = model_gguf(settings)
        except LLMUnavailable as exc:
            return [not_available(NAME, str(exc))]
        threads = settings.llm_threads or os.cpu_count() or 1
        names = [name for name in BUILD_ORDER if name in builds]
        runs: dict[str, list[dict[str, object]]] = {name: [] for name in names}
        for _ in range(2 if quick else 3):
            for name in runs:  # interleaved: a busy spell hits every build
                runs[name].append(run_build(builds[name], gguf, threads))
    rows = []
    prompt_rate: dict[str, float] = {}
    for name, results in runs.items():
        prompt = prompt_rate[name] = median([float(r["prompt_tps"]) for r in results])
        generation = median([float(r["gen_tps"]) for r in results])
        wide = [f for f in results[0]["features"] if str(f).startswith(("AVX512", "AMX"))]  # type: ignore[union-attr]
        note = f"{builds[name].cmake_args}; AVX-512/AMX: {', '.join(wide) or 'none'}"
        rows.append(
            Row(NAME, f"{name}: prompt eval, {PROMPT_TOKENS} tokens", prompt, "tok/s", note=note)
        )
        rows.append(Row(NAME, f"{name}: generation", generation, "tok/s"))
    ratio = prompt_rate["tuned"] / prompt_rate["portable"]
    setup = f"{gguf.name}, {threads} threads, medians of interleaved rounds"
    rows.append(
        Row(NAME, "tuned / portable prompt eval", ratio, "×", "≥ 1.3", ratio >= 1.3, note=setup)
    )
    if "amx" in prompt_rate:
        for other in ("portable", "tuned"):
            amx_ratio = prompt_rate["amx"] / prompt_rate[other]
            rows.append(Row(NAME, f"amx / {other} prompt eval", amx_ratio, "×", note=setup))
    return rows


if __name__ == "__main__":
    run_cli(main, __doc__)
