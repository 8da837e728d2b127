"""The product end to end with the real local model: `/chat` over the ingested samples.

`samples/` is ingested into a fresh index (production ingest, int8 ONNX
embeddings). Then 20 questions from the labelled retrieval set are asked one
after another, each as the first question of its own session (retrieval, then
the RAG prompt), with the server's default settings; then a few follow-ups in
one session, which retrieve with the previous question joined to theirs. Last,
llama.cpp's prompt evaluation speed is measured directly, because on CPU the
prompt (passages + question) is what the time to first token is made of.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx

from bench.launch import REAL_APP, serve
from bench.report import Row, not_available, run_cli
from bench.sse_client import StreamTiming, timed_stream
from bench.stats import median, ms, percentile
from bench.synthetic_index import REPO, SAMPLES, share_model_cache
from settings import Settings

NAME = "real model end to end"
QUESTIONS_FILE = REPO / "bench" / "data" / "retrieval_qa.jsonl"
QUESTIONS, FOLLOW_UPS = 20, 3
FALLBACK_QUESTIONS = ["How do I read a CSV file?", "What is a virtual environment?"]
EVAL_TOKENS = 512


def questions(n: int) -> list[str]:
    if not QUESTIONS_FILE.exists():
        return [FALLBACK_QUESTIONS[i % len(FALLBACK_QUESTIONS)] for i in range(n)]
    lines = [line for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]
    step = max(1, len(lines) // n)  # spread over the file: it is grouped by source
    return [json.loads(line)["question"] for line in lines[::step][:n]]


def ingest_samples(data_dir: Path, folder: Path = SAMPLES) -> int:
    from chains.ingest.pipeline import ingest

    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    return ingest(settings, [folder], progress=False).chunks


async def ask(base_url: str, asked: list[tuple[str, str]]) -> list[StreamTiming]:
    """(session, question) pairs in order; an empty answer (the model stopped at once) counts."""
    timings = []
    async with httpx.AsyncClient(timeout=300.0) as client:
        for session, question in asked:
            payload = {"question": question, "username": "bench", "session_id": session}
            timing = await timed_stream(client, f"{base_url}/chat/stream", payload)
            if timing.error or timing.closing is None:
                raise RuntimeError(f"/chat failed: {timing.error or 'no closing chunk'}")
            timings.append(timing)
    return timings


def prompt_eval_rate(tokens: int) -> float:
    """llama.cpp prompt evaluation, tokens/s, with the server's model settings."""
    import os

    from llama_cpp import Llama

    from chains.llm.gguf import model_gguf

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    llm = Llama(
        str(model_gguf(settings)),
        n_ctx=settings.llm_context_tokens,
        n_batch=512,
        n_threads=settings.llm_threads or os.cpu_count() or 1,
        verbose=False,
    )
    text = " ".join(questions(QUESTIONS)) * 20
    ids = llm.tokenize(text.encode())[:tokens]
    llm.eval(ids[:16])  # warm-up
    llm.reset()
    start = time.perf_counter()
    llm.eval(ids)
    return len(ids) / (time.perf_counter() - start)


def rows(
    first: list[StreamTiming], follow: list[StreamTiming], chunks: int, eval_rate: float
) -> list[Row]:
    answered = [t for t in first if t.ttft is not None]
    ttfts = [ms(t.ttft) for t in answered if t.ttft is not None]
    rates = [(t.tokens - 1) / (t.total - (t.ttft or 0.0)) for t in answered if t.tokens > 1]
    note = f"{len(first)} questions, each opening a session; {chunks} chunks indexed"
    if len(answered) < len(first):
        note += f"; {len(first) - len(answered)} empty answer(s) left out"
    follow_ttfts = [ms(t.ttft) for t in follow if t.ttft is not None]

    def or_none(value: float) -> float | None:  # every answer empty: no TTFT to report
        return value if ttfts or follow_ttfts else None

    return [
        Row(
            NAME,
            "TTFT p50, /chat, first question of a session",
            or_none(median(ttfts)),
            "ms",
            note=note,
        ),
        Row(
            NAME,
            "TTFT p95, /chat, first question of a session",
            or_none(percentile(ttfts, 95)),
            "ms",
        ),
        Row(NAME, "total time p50 per answer", ms(median([t.total for t in first])), "ms"),
        Row(NAME, "answer tokens p50", median([float(t.tokens) for t in first]), "tokens"),
        Row(NAME, "tokens/s after the first token, p50", median(rates), "tok/s"),
        Row(
            NAME,
            "TTFT p50, follow-up (retrieve with the previous question + answer)",
            median(follow_ttfts),
            "ms",
            note=f"{len(follow)} follow-ups in one session",
        ),
        Row(
            NAME,
            "llama.cpp prompt evaluation (direct)",
            eval_rate,
            "tok/s",
            note=f"{EVAL_TOKENS} tokens; TTFT ≈ prompt tokens ÷ this",
        ),
    ]


def main(quick: bool = False) -> list[Row]:
    from chains.llm import LLMUnavailable
    from chains.llm.gguf import model_gguf

    try:  # the model LLM_MODEL names: the shipped default unless set
        model_gguf(Settings(_env_file=None))  # type: ignore[call-arg]
    except LLMUnavailable as exc:
        return [not_available(NAME, str(exc))]
    n, follow_ups = (2, 1) if quick else (QUESTIONS, FOLLOW_UPS)
    asked = questions(n + follow_ups)
    env = {"MAX_NEW_TOKENS": "8", "RETRIEVAL_K": "2"} if quick else {}
    folder = SAMPLES / "tutorial" if quick else SAMPLES
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        data_dir = Path(tmp) / "data"
        share_model_cache(data_dir)
        chunks = ingest_samples(data_dir, folder)
        with serve(REAL_APP, Path(tmp), env) as server:
            first = asyncio.run(ask(server.url, [(f"q{i}", q) for i, q in enumerate(asked[:n])]))
            follow = asyncio.run(ask(server.url, [("q0", q) for q in asked[n:]]))
    eval_rate = prompt_eval_rate(64 if quick else EVAL_TOKENS)
    return rows(first, follow, chunks, eval_rate)


if __name__ == "__main__":
    run_cli(main, __doc__)
