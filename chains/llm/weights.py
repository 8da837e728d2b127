"""Which weights the local model runs on: the GGUF as shipped, or converted once to Q8_0/F16.

SmolLM2's GGUF ships as Q4_1, which llama.cpp's CPU backend neither repacks nor runs on
its fastest kernels; converted to F16 (or Q8_0) the same weights evaluate prompts two to
three times faster. Qwen2.5-Coder-1.5B ships as Q4_K_M, which has fast kernels, and at
1.5B parameters F16 weights are 3 GB to read per generated token. The conversions start
from the shipped values, so F16 only rounds each to half precision and Q8_0 to 256 levels
per block: nothing the shipped file holds is lost beyond that rounding. Which one gives
the fastest RAG turn depends on the model and the CPU, so `LLM_WEIGHTS=auto` times one
with each, once per model and machine (chains.models.measured_choice); docs/answers.md has the
figures.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

from chains.models.measured_choice import fastest
from chains.models.presets import llm_preset
from settings import Settings

log = logging.getLogger("ragchat.llm")

CONVERSIONS = ("q8_0", "f16")
# What a RAG turn costs once the system turn is cached (llama.cpp reuses the evaluated
# prefix): passages and question, then a one-sentence cited answer. Generation weighs in:
# a 1.5B model's F16 weights are 3 GB to read per token.
TIMED_PROMPT_TOKENS = 120
TIMED_ANSWER_TOKENS = 32


def converted(source: Path, fmt: str, models_dir: Path) -> Path:
    """`source` converted to `fmt` under `models_dir`, built once (several processes may ask)."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    target = models_dir / f"{source.stem}.{fmt}-{source.stat().st_size}.gguf"
    if target.exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / ".gguf.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = {
            "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
            "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
        }[fmt]
        params.allow_requantize = True
        staged = models_dir / f".tmp-{target.name}-{os.getpid()}"
        log.info("converting %s to %s (once)", source.name, fmt)
        # llama.cpp prints every tensor it converts; its own helper keeps that off stderr.
        with suppress_stdout_stderr(disable=False):
            failed = llama_cpp.llama_model_quantize(
                str(source).encode(), str(staged).encode(), params
            )
        if failed:
            staged.unlink(missing_ok=True)
            raise RuntimeError(f"llama.cpp could not convert {source.name} to {fmt}")
        os.rename(staged, target)
    return target


def time_rag_turn(path: Path, threads: int) -> float:
    """Seconds to evaluate a RAG-sized prompt and generate a short answer (best of two)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=512, n_threads=threads, n_batch=512, verbose=False)
    try:
        prompt = llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 40)
        prompt = prompt[:TIMED_PROMPT_TOKENS]
        best = float("inf")
        for _ in range(2):
            llm.reset()
            started = time.perf_counter()
            llm.eval(prompt)
            for _ in range(TIMED_ANSWER_TOKENS):
                llm.eval([llm.sample(temp=0.0)])
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        llm.close()


def local_weights(settings: Settings, source: Path) -> Path:
    """The GGUF the local model loads, per `LLM_WEIGHTS`."""
    models_dir = settings.resolved_models_dir
    if settings.llm_weights == "shipped":
        return source
    if settings.llm_weights != "auto":
        return converted(source, settings.llm_weights, models_dir)
    preset = llm_preset(settings)
    formats = preset.weights if preset else ("shipped", *CONVERSIONS)
    if len(formats) == 1:  # nothing to choose between: no conversion, no timing
        return source if formats[0] == "shipped" else converted(source, formats[0], models_dir)
    threads = settings.llm_threads or os.cpu_count() or 1

    def timing(fmt: str) -> float:
        path = source if fmt == "shipped" else converted(source, fmt, models_dir)
        return time_rag_turn(path, threads)

    import llama_cpp

    key = {
        "turn": f"{TIMED_PROMPT_TOKENS}+{TIMED_ANSWER_TOKENS} tokens",  # another turn, again
        "model": source.name,
        "size": source.stat().st_size,
        "threads": threads,
        "llama_cpp": llama_cpp.__version__,
    }
    candidates = {fmt: (lambda fmt=fmt: timing(fmt)) for fmt in formats}
    # One file per model: the presets alternate (tests on the small one, `make run` on the
    # default), and a shared file would measure again at every switch.
    choice, _ = fastest(models_dir / f"llm-weights-{source.stem}.json", key, candidates)
    return source if choice == "shipped" else converted(source, choice, models_dir)
