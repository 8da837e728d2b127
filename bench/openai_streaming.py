"""The OpenAI-compatible route streams: first delta long before the answer ends.

A fake model paced at one word per 20 ms (50 words, ~1 s per answer) makes
buffering visible: a route that collected the answer first would deliver its
first delta at the end. The `openai` SDK streams `/v1/chat/completions`
(model `ragchat-formatted`); LangServe's `/formatted/stream` on the same
server is the side-by-side reference, interleaved request by request.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.launch import FAKE_APP, serve
from bench.report import Row, not_available, run_cli
from bench.sse_client import timed_stream
from bench.stats import median, ms

NAME = "openai streaming"
MODEL = "ragchat-formatted"
TOKENS = 50
TOKEN_DELAY_MS = 20
TARGET_FRACTION = 0.1  # first delta within the first 10 % of the stream


def openai_stream(base_url: str, question: str) -> tuple[float, float, int]:
    """(first content delta, last delta, deltas) in seconds since the request."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/v1", api_key="unused", timeout=60.0, max_retries=0)
    arrivals = []
    start = time.perf_counter()
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - start)
    if not arrivals:
        raise RuntimeError("the OpenAI route streamed no content")
    return arrivals[0], arrivals[-1], len(arrivals)


def langserve_ttft(base_url: str, question: str) -> float:
    async def one() -> float:
        async with httpx.AsyncClient(timeout=60.0) as client:
            timing = await timed_stream(
                client, f"{base_url}/formatted/stream", {"question": question}
            )
        if timing.ttft is None:
            raise RuntimeError(f"/formatted/stream: {timing.error or 'no tokens'}")
        return timing.ttft

    return asyncio.run(one())


def main(quick: bool = False) -> list[Row]:
    repeats, tokens = (1, 10) if quick else (7, TOKENS)
    env = {"BENCH_FAKE_TOKENS": str(tokens), "BENCH_FAKE_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS)}
    with (
        tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp,
        serve(FAKE_APP, Path(tmp), env) as server,
    ):
        base_url = server.url
        if httpx.get(f"{base_url}/v1/models", timeout=10).status_code == 404:
            return [not_available(NAME, "/v1/chat/completions is not served by create_app yet")]
        openai_stream(base_url, "warm up")
        firsts, fractions, reference = [], [], []
        for index in range(repeats):
            question = f"Question number {index}?"
            first, last, _ = openai_stream(base_url, question)
            firsts.append(first)
            fractions.append(first / last)
            reference.append(langserve_ttft(base_url, question))
    fraction = median(fractions)
    return [
        Row(
            NAME,
            "first delta, /v1/chat/completions stream",
            ms(median(firsts)),
            "ms",
            note=f"fake model: {tokens} words, 1 per {TOKEN_DELAY_MS} ms; {repeats} runs",
        ),
        Row(
            NAME,
            "first delta ÷ last delta",
            fraction,
            "×",
            f"≤ {TARGET_FRACTION:g} (streams, not buffered)",
            fraction <= TARGET_FRACTION,
        ),
        Row(NAME, "reference: TTFT of /formatted/stream", ms(median(reference)), "ms"),
    ]


if __name__ == "__main__":
    run_cli(main, __doc__)
