"""The local model's own speed, lever by lever, on RAG turns as the server builds them.

On a CPU the time to first token of a RAG answer is mostly prompt evaluation, so each
lever that changes how many prompt tokens are evaluated, or how fast, is timed side by
side: the weights (`LLM_WEIGHTS`: the GGUF as shipped, or converted once to Q8_0 or F16),
`n_ubatch` and threads, llama.cpp's reuse of the evaluated prompt prefix (the system turn
stays in the KV cache between requests: how many tokens it saves, and the TTFT with and
without it), and prompt-lookup speculative decoding for generation. The turns are the
prompt style of the model `LLM_MODEL` names (the shipped default unless set), with the
evidence passages of `bench/data/answers.jsonl` as context.

    python -m bench.llm_speed [--quick]
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bench.report import Row, not_available, run_cli
from bench.stats import median, ms
from bench.synthetic_index import REPO, scratch_settings
from chains.models.presets import context_tokens, llm_model, prompt_style
from settings import Settings

NAME = "llm speed"
ANSWERS = REPO / "bench" / "data" / "answers.jsonl"
ANSWER_TOKENS = 32


def load(path: Path, threads: int, **params: Any) -> Any:
    from llama_cpp import Llama

    options = {"n_ctx": 2048, "n_batch": 512, "verbose": False} | params
    return Llama(model_path=str(path), n_threads=threads, **options)


def rag_turns(settings: Settings, n: int) -> list[list[dict[str, str]]]:
    """Chat messages of `n` RAG turns: the style's fixed system turn, then each labelled
    question with its evidence and a neighbour's as the passages, within CONTEXT_TOKENS."""
    from chains.passages import Passage, within_budget
    from chains.prompts import RAG_PROMPTS
    from chains.retrieval import format_passages

    rows = [json.loads(line) for line in ANSWERS.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "tune" and not r.get("follow_up_of")]
    style = prompt_style(settings)
    turns = []
    for i in range(n):
        row, other = rows[i % len(rows)], rows[(i + 7) % len(rows)]
        ranked = [Passage(1, row["evidence"]), Passage(2, other["evidence"])]
        passages = within_budget(ranked, context_tokens(settings))
        fence = "heading" if style == "small" else "tags"
        messages = RAG_PROMPTS[style].format_messages(
            context=format_passages(passages, fence),
            earlier="",
            question=row["question"],
            history=[],
        )
        role = {"system": "system", "human": "user", "ai": "assistant"}
        turns.append([{"role": role[m.type], "content": str(m.content)} for m in messages])
    return turns


def prompt_tokens(llm: Any, messages: list[dict[str, str]]) -> list[int]:
    """The tokens llama.cpp evaluates for `messages`: the GGUF's own chat template, as
    `create_chat_completion` applies it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=llm._model.token_get_text(llm.token_eos()),
        bos_token=llm._model.token_get_text(llm.token_bos()),
    )
    formatted = formatter(messages=messages)
    add_bos = not formatted.added_special
    return llm.tokenize(formatted.prompt.encode(), add_bos=add_bos, special=True)


def cold_prompt_seconds(llm: Any, tokens: list[int], repeats: int) -> float:
    """llama.cpp alone evaluating `tokens` from an empty KV cache: best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        best = min(best, time.perf_counter() - started)
    return best


def generation_rate(llm: Any, tokens: list[int], n: int = ANSWER_TOKENS) -> float:
    llm.reset()
    llm.eval(tokens)
    started = time.perf_counter()
    for _ in range(n):
        llm.eval([llm.sample(temp=0.0)])
    return n / (time.perf_counter() - started)


def first_token(llm: Any, messages: list[dict[str, str]], reset: bool) -> tuple[float, int, int]:
    """(TTFT, prompt tokens, tokens reused from the previous evaluation) of one turn."""
    from llama_cpp import Llama

    if reset:
        llm.reset()
    before = list(llm._input_ids[: llm.n_tokens])
    started = time.perf_counter()
    for chunk in llm.create_chat_completion(
        messages=messages, max_tokens=1, temperature=0.0, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            break
    elapsed = time.perf_counter() - started
    tokens = prompt_tokens(llm, messages)
    return elapsed, len(tokens), Llama.longest_token_prefix(before, tokens)


def answer(llm: Any, messages: list[dict[str, str]]) -> tuple[str, float]:
    """A greedy answer of up to ANSWER_TOKENS, and its tokens/s after the first token."""
    llm.reset()
    parts: list[str] = []
    first = 0.0
    for chunk in llm.create_chat_completion(
        messages=messages, max_tokens=ANSWER_TOKENS, temperature=0.0, stream=True
    ):
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            first = first or time.perf_counter()
            parts.append(text)
    rate = (len(parts) - 1) / (time.perf_counter() - first) if len(parts) > 1 else 0.0
    return "".join(parts), rate


def weights_rows(settings: Settings, source: Path, tokens: list[int], quick: bool) -> list[Row]:
    from chains.llm.weights import converted, local_weights

    threads = settings.llm_threads or os.cpu_count() or 1
    models = settings.resolved_models_dir
    rows = []
    formats = {"shipped": source} | {f: converted(source, f, models) for f in ("q8_0", "f16")}
    for name, path in formats.items():
        llm = load(path, threads)
        try:
            seconds = cold_prompt_seconds(llm, tokens, 1 if quick else 3)
            rate = generation_rate(llm, tokens[:64], 8 if quick else ANSWER_TOKENS)
        finally:
            llm.close()
        note = f"{len(tokens)}-token RAG prompt"
        rows += [
            Row(NAME, f"prompt evaluation, {name}", len(tokens) / seconds, "tok/s", note=note),
            Row(NAME, f"generation, {name}", rate, "tok/s"),
            Row(
                NAME,
                f"RAG turn from scratch (prompt + {ANSWER_TOKENS} tokens), {name}",
                ms(seconds + ANSWER_TOKENS / rate),
                "ms",
            ),
        ]
    chosen = local_weights(settings, source)
    picked = next(name for name, path in formats.items() if path == chosen)
    rows.append(Row(NAME, "LLM_WEIGHTS=auto picks", None, "", note=picked))
    return rows


def batch_and_thread_rows(path: Path, tokens: list[int], quick: bool) -> list[Row]:
    rows = []
    cores = os.cpu_count() or 1
    variants: dict[str, dict[str, Any]] = {
        f"n_batch 512, n_ubatch {u}, {cores} threads": {"n_ubatch": u, "threads": cores}
        for u in ((512,) if quick else (64, 128, 512))
    }
    if cores > 1 and not quick:
        variants[f"n_batch 512, n_ubatch 512, {cores - 1} thread(s)"] = {"threads": cores - 1}
    for label, params in variants.items():
        threads = params.pop("threads")
        llm = load(path, threads, **params)
        try:
            seconds = cold_prompt_seconds(llm, tokens, 1 if quick else 2)
        finally:
            llm.close()
        rows.append(Row(NAME, f"prompt evaluation, {label}", len(tokens) / seconds, "tok/s"))
    return rows


def prefix_rows(path: Path, turns: list[list[dict[str, str]]], threads: int) -> list[Row]:
    llm = load(path, threads)
    try:
        first_token(llm, turns[0], reset=True)  # the server warms the prefix at load
        kept = [first_token(llm, t, reset=False) for t in turns]
        cleared = [first_token(llm, t, reset=True) for t in turns]
        cold = [cold_prompt_seconds(llm, prompt_tokens(llm, t), 1) for t in turns]
    finally:
        llm.close()
    total = median([float(n) for _, n, _ in kept])
    reused = median([float(r) for _, _, r in kept])
    ratio = median([k[0] / c for k, c in zip(kept, cold, strict=True)])
    return [
        Row(NAME, "RAG turn prompt tokens p50", total, "tokens", note=f"{len(turns)} turns"),
        Row(NAME, "prompt tokens reused from the KV cache p50", reused, "tokens"),
        Row(NAME, "RAG turn TTFT p50, KV prefix reused", ms(median([k[0] for k in kept])), "ms"),
        Row(NAME, "RAG turn TTFT p50, KV cache cleared", ms(median([c[0] for c in cleared])), "ms"),
        Row(NAME, "llama.cpp alone, same prompt from scratch, p50", ms(median(cold)), "ms"),
        Row(NAME, "TTFT (prefix reused) ÷ llama.cpp alone from scratch, p50", ratio, "×"),
    ]


def lookup_rows(path: Path, turns: list[list[dict[str, str]]], threads: int) -> list[Row]:
    """Prompt-lookup decoding: drafts copied from the prompt, checked in one batch."""
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    rows = []
    outputs: dict[str, list[str]] = {}
    for label, draft in (
        ("plain", None),
        ("prompt lookup, 10 drafted", LlamaPromptLookupDecoding(num_pred_tokens=10)),
        ("prompt lookup, 2 drafted", LlamaPromptLookupDecoding(num_pred_tokens=2)),
    ):
        llm = load(path, threads, draft_model=draft)
        try:
            results = [answer(llm, t) for t in turns]
        finally:
            llm.close()
        outputs[label] = [text for text, _ in results]
        rate = median([r for _, r in results if r > 0])
        rows.append(Row(NAME, f"generation in RAG answers, {label}", rate, "tok/s"))
    plain, lookup = outputs["plain"], outputs["prompt lookup, 10 drafted"]
    same = sum(a == b for a, b in zip(plain, lookup, strict=True))
    rows.append(Row(NAME, "prompt lookup: answers identical to plain", same / len(turns), ""))
    return rows


def main(quick: bool = False) -> list[Row]:
    from chains.llm import LLMUnavailable
    from chains.llm.gguf import model_gguf
    from chains.llm.weights import local_weights

    with scratch_settings("bench-llm-") as settings:
        try:
            source = model_gguf(settings)
        except LLMUnavailable as exc:
            return [not_available(NAME, str(exc))]
        threads = settings.llm_threads or os.cpu_count() or 1
        turns = rag_turns(settings, 3 if quick else 8)
        probe = load(source, threads, vocab_only=True)
        tokens = prompt_tokens(probe, turns[0])
        probe.close()
        label = f"model {llm_model(settings)}"
        rows = [Row(NAME, "model", None, "", note=label)]
        rows += weights_rows(settings, source, tokens, quick)
        chosen = local_weights(settings, source)
        rows += batch_and_thread_rows(chosen, tokens, quick)
        rows += prefix_rows(chosen, turns, threads)
        rows += lookup_rows(chosen, turns[: 2 if quick else 6], threads)
    return rows


if __name__ == "__main__":
    run_cli(main, __doc__)
