"""Generation for several answers at once: one llama.cpp batch per step, or one after another.

llama.cpp can decode several sequences in one batch, each with its own KV cells (its
sequence id). While generation is bound by reading the weights, a step holding one token
of each of N answers should cost far less than N steps. This measures it on the default
model (the GGUF as shipped) with llama.cpp's low-level API, in the build the server
would choose:

- total generation tokens/s for N answers decoded together (one batch per step, one token
  of each) against the same N answers generated one after another; each answer has its
  own prompt of real text from `samples/`, evaluated before the timed generation;
- the first-token time of a new question whose prompt is evaluated in the same batch as
  one step of answers already being generated, against the same prompt evaluated alone,
  and how long that step holds the running answers.

Variants are interleaved round by round (A/B, then B/A); figures are medians over rounds,
ratios the median of each round's paired ratio. Greedy argmax; the end-of-generation token
is not honoured (a speed measurement: every answer runs its full length).

    python -m bench.batched_decode [--quick]
"""

from __future__ import annotations

import html
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import Row, cpu_description, not_available, run_cli
from bench.stats import median, ms
from bench.synthetic_index import SAMPLES, TEXT_SUFFIXES, scratch_settings
from chains.llm.batch_engine import fill_batch
from chains.llm.batch_step import Entry

NAME = "batched generation"
BATCH_TOKENS = 512  # n_batch and n_ubatch: a prompt plus one token per running answer


@dataclass(frozen=True)
class Plan:
    counts: tuple[int, ...]
    """How many answers are generated together."""
    prompt_tokens: int
    new_tokens: int
    """Tokens generated per answer after its first (the timed generation phase)."""
    rounds: int
    running: int
    """Answers being generated while a new question's prompt is read."""


FULL = Plan(counts=(1, 2, 4), prompt_tokens=300, new_tokens=64, rounds=3, running=3)
QUICK = Plan(counts=(1, 2), prompt_tokens=64, new_tokens=8, rounds=1, running=1)


def prompt_entries(tokens: Sequence[int], seq: int, start: int = 0) -> list[Entry]:
    """A prompt in sequence `seq` from position `start`; logits for its last token only."""
    last = len(tokens) - 1
    return [Entry(t, start + i, seq, i == last) for i, t in enumerate(tokens)]


def step_entries(running: dict[int, tuple[int, int]]) -> list[Entry]:
    """One generation step: for each sequence, its last token at its next position."""
    return [Entry(token, pos, seq, True) for seq, (token, pos) in sorted(running.items())]


def passages(folder: Path = SAMPLES, count: int = 5, chars: int = 2400) -> list[str]:
    """`count` passages of real text, one per sample document (tags and markup whitespace
    dropped), each cut to `chars` characters; documents are taken in name order."""
    texts = []
    for path in sorted(folder.rglob("*")):
        if path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        if path.suffix == ".html":
            text = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", text)
            text = html.unescape(re.sub(r"<[^>]+>", " ", text))
        text = " ".join(text.split())
        if len(text) >= chars // 2:
            texts.append(text[:chars])
        if len(texts) == count:
            return texts
    raise ValueError(f"{folder} holds {len(texts)} usable documents, {count} needed")


def alternating(variants: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, variant) in A/B, B/A, A/B ... order, so a busy spell hits every variant."""
    for r in range(rounds):
        for variant in variants if r % 2 == 0 else list(reversed(variants)):
            yield r, variant


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median over rounds of numerator[r] / denominator[r]."""
    return median([a / b for a, b in zip(numerator, denominator, strict=True)])


class Engine:
    """One model and one context with room for several sequences (low-level API)."""

    def __init__(self, gguf: Path, threads: int, sequences: int, tokens_per_sequence: int):
        import llama_cpp
        import numpy as np

        # llama-cpp-python forwards llama.cpp's log to this logger (Llama(verbose=False) does
        # the same): errors only, not the per-tensor lines of every context.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        self.llama, self.np = llama_cpp, np
        llama_cpp.llama_backend_init()
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        self.model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), model_params)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {gguf.name}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        params = llama_cpp.llama_context_default_params()
        params.n_seq_max = sequences
        params.n_ctx = sequences * tokens_per_sequence
        params.n_batch = params.n_ubatch = BATCH_TOKENS
        params.n_threads = params.n_threads_batch = threads
        self.kv_unified = bool(getattr(params, "kv_unified", True))
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context")
        # 0.3.36 reaches the KV cache through llama_memory_* (llama_kv_self_* is gone).
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(BATCH_TOKENS, 0, 1)

    def tokenize(self, text: str) -> list[int]:
        data = text.encode()
        buffer = (self.llama.llama_token * (len(data) + 16))()
        n = self.llama.llama_tokenize(self.vocab, data, len(data), buffer, len(buffer), True, False)
        if n < 0:
            raise RuntimeError("tokenizer buffer too small")
        return list(buffer[:n])

    def clear(self) -> None:
        self.llama.llama_memory_clear(self.memory, True)

    def decode(self, entries: Sequence[Entry]) -> dict[int, int]:
        """Decode one batch; the greedy next token of each sequence whose logits were read."""
        code = self.llama.llama_decode(self.ctx, fill_batch(self.batch, entries))
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        chosen = {}
        for i, entry in enumerate(entries):
            if entry.logits:
                pointer = self.llama.llama_get_logits_ith(self.ctx, i)
                row = self.np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))
                chosen[entry.seq] = int(row.argmax())
        return chosen

    def close(self) -> None:
        self.llama.llama_batch_free(self.batch)
        self.llama.llama_free(self.ctx)
        self.llama.llama_model_free(self.model)


def read_prompts(
    engine: Engine, prompts: Sequence[list[int]], first_seq: int = 0
) -> dict[int, tuple[int, int]]:
    """Evaluate each prompt in its own sequence (`first_seq`, then the next ...), one
    decode each, as answers arrive; the first token and next position of each sequence."""
    running = {}
    for seq, tokens in enumerate(prompts, start=first_seq):
        first = engine.decode(prompt_entries(tokens, seq))[seq]
        running[seq] = (first, len(tokens))
    return running


def generate(engine: Engine, running: dict[int, tuple[int, int]], steps: int) -> list[list[int]]:
    """`steps` batched steps of every running sequence; the tokens each generated."""
    out: dict[int, list[int]] = {seq: [] for seq in running}
    for _ in range(steps):
        chosen = engine.decode(step_entries(running))
        running = {seq: (chosen[seq], pos + 1) for seq, (_, pos) in running.items()}
        for seq, tokens in out.items():
            tokens.append(chosen[seq])
    return [out[seq] for seq in sorted(out)]


def one_after_another(
    engine: Engine, prompts: Sequence[list[int]], steps: int
) -> tuple[float, list[list[int]]]:
    """Seconds of generation (prompts untimed) for each answer in turn, and the tokens."""
    seconds, outputs = 0.0, []
    for tokens in prompts:
        engine.clear()
        running = read_prompts(engine, [tokens])
        started = time.perf_counter()
        outputs += generate(engine, running, steps)
        seconds += time.perf_counter() - started
    return seconds, outputs


def together(
    engine: Engine, prompts: Sequence[list[int]], steps: int
) -> tuple[float, list[list[int]]]:
    """Seconds of generation (prompts untimed) for all answers in one batch per step."""
    engine.clear()
    running = read_prompts(engine, prompts)
    started = time.perf_counter()
    outputs = generate(engine, running, steps)
    return time.perf_counter() - started, outputs


def first_token_alone(engine: Engine, prompt: list[int]) -> float:
    engine.clear()
    started = time.perf_counter()
    engine.decode(prompt_entries(prompt, 0))
    return time.perf_counter() - started


def first_token_mixed(
    engine: Engine, prompt: list[int], others: Sequence[list[int]], warm_steps: int = 4
) -> tuple[float, float]:
    """A new prompt (sequence 0) decoded in one batch with a step of the answers being
    generated (sequences 1...): its first-token seconds, and the running answers' usual
    step seconds (median of the steps before)."""
    engine.clear()
    running = read_prompts(engine, others, first_seq=1)
    steps = []
    for _ in range(warm_steps):
        started = time.perf_counter()
        chosen = engine.decode(step_entries(running))
        steps.append(time.perf_counter() - started)
        running = {seq: (chosen[seq], pos + 1) for seq, (_, pos) in running.items()}
    started = time.perf_counter()
    engine.decode(step_entries(running) + prompt_entries(prompt, 0))
    return time.perf_counter() - started, median(steps)


def machine_notes() -> str:
    """The CPU and the load average, for the note of the first row."""
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    cpu = cpu_description()
    return f"{cpu}, {os.cpu_count()} cores, load average {load} at start"


def throughput_rows(plan: Plan, seconds: dict[tuple[int, str], list[float]]) -> list[Row]:
    rows = []
    for n in plan.counts:
        tokens = n * plan.new_tokens
        alone = [tokens / s for s in seconds[n, "one after another"]]
        batched = [tokens / s for s in seconds[n, "batched"]]
        rows += [
            Row(NAME, f"generation, {n} answer(s) one after another", median(alone), "tok/s"),
            Row(
                NAME,
                f"generation, {n} answer(s) batched",
                median(batched),
                "tok/s",
                note=f"each answer's own stream {median(batched) / n:.1f} tok/s",
            ),
        ]
        if n > 1:
            ratio = paired_ratio(batched, alone)
            rows.append(
                Row(
                    NAME,
                    f"batched ÷ one after another, {n} answers",
                    ratio,
                    "×",
                    "> 1.1",
                    ratio > 1.1,
                )
            )
    return rows


def first_token_rows(
    plan: Plan, alone: list[float], mixed: list[float], step: list[float]
) -> list[Row]:
    ratio = paired_ratio(mixed, alone)
    return [
        Row(NAME, f"first token, {plan.prompt_tokens}-token prompt alone", ms(median(alone)), "ms"),
        Row(
            NAME,
            f"first token, same prompt in a batch with {plan.running} answer(s) generating",
            ms(median(mixed)),
            "ms",
        ),
        Row(
            NAME,
            "first token with ÷ without answers generating",
            ratio,
            "×",
            "≤ 1.15",
            ratio <= 1.15,
        ),
        Row(
            NAME,
            f"step of {plan.running} generating answer(s), usual",
            ms(median(step)),
            "ms",
            note="the step that reads the new prompt holds them for the first-token time",
        ),
    ]


def measure(engine: Engine, plan: Plan, texts: list[str]) -> list[Row]:
    prompts = [engine.tokenize(t)[: plan.prompt_tokens] for t in texts]
    seconds: dict[tuple[int, str], list[float]] = {}
    outputs: dict[tuple[int, str], list[list[int]]] = {}
    variants = {"one after another": one_after_another, "batched": together}
    for r, variant in alternating(list(variants), plan.rounds):
        for n in plan.counts:
            took, out = variants[variant](engine, prompts[:n], plan.new_tokens)
            seconds.setdefault((n, variant), []).append(took)
            outputs[n, variant] = out
            print(f"[{NAME}] round {r}, {n} {variant}: {took:.1f} s", file=sys.stderr)
    rows = throughput_rows(plan, seconds)
    top = max(plan.counts)
    same = sum(
        a == b
        for a, b in zip(outputs[top, "batched"], outputs[top, "one after another"], strict=True)
    )
    rows.append(
        Row(NAME, f"batched answers identical to one after another ({top})", same / top, "")
    )
    new, others = prompts[plan.running], prompts[: plan.running]
    alone, mixed, step = [], [], []
    for _, variant in alternating(["alone", "mixed"], plan.rounds):
        if variant == "alone":
            alone.append(first_token_alone(engine, new))
        else:
            took, usual = first_token_mixed(engine, new, others)
            mixed.append(took)
            step.append(usual)
    return rows + first_token_rows(plan, alone, mixed, step)


def main(quick: bool = False) -> list[Row]:
    from chains.llm import LLMUnavailable, llama_build
    from chains.llm.gguf import model_gguf

    plan = QUICK if quick else FULL
    machine = machine_notes()
    with scratch_settings("bench-batched-") as settings:
        try:
            gguf = model_gguf(settings)
        except LLMUnavailable as exc:
            return [not_available(NAME, str(exc))]
        llama_build.activate(llama_build.choose_build(settings, gguf))
        threads = settings.llm_threads or os.cpu_count() or 1
        texts = passages(count=max(max(plan.counts), plan.running + 1))
        sequences = max(max(plan.counts), plan.running + 1)
        engine = Engine(gguf, threads, sequences, plan.prompt_tokens + plan.new_tokens + 64)
        try:
            rows = measure(engine, plan, texts)
            unified = engine.kv_unified
        finally:
            engine.close()
    build = llama_build.CHOSEN.note if llama_build.CHOSEN else "build unknown"
    setup = (
        f"{gguf.name}, {threads} threads, {plan.prompt_tokens}-token prompts from samples/, "
        f"{plan.new_tokens} tokens per answer, kv_unified={unified}, {plan.rounds} interleaved "
        f"rounds; {build}; {machine}"
    )
    return [Row(NAME, "setup", None, "", note=setup), *rows]


if __name__ == "__main__":
    run_cli(main, __doc__)
