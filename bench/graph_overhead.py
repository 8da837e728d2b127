"""What the graph costs before the first token: `/chat` vs `/history` vs `/simple`.

One server, one fake model that answers instantly (so any time is the server's),
history in SQLite, retrieval on a 10k-chunk synthetic index (hybrid mode: the
query is embedded by the real int8 ONNX model, then dense + BM25 over 10k chunks).
Sessions already hold a few exchanges, so `/chat` runs every node: load history,
condense (the previous question joined to this one), retrieve, focus, generate, save.
Every question is numbered, so no turn retrieves with a query seen before: the server
keeps recent questions' vectors, and a repeated question would flatter the figure.

Measured at the client on loopback, request sent → first token, nothing
subtracted: an upper bound of the server-side figure. The three routes are
interleaved request by request, so `/simple` is a side-by-side baseline.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path

import httpx

from bench.launch import FAKE_APP, serve
from bench.report import Row, run_cli
from bench.sse_client import timed_stream
from bench.stats import median, ms, percentile
from bench.synthetic_index import build_synthetic_index, share_model_cache

NAME = "graph overhead"
CHUNKS = 10_000
SESSIONS = 10
TARGET_P50_MS = 15.0
# The answer (and the question, if FOLLOW_UP_QUERY asks the model to rewrite follow-ups).
FAKE_TEXT = "How do I read a CSV file with the csv module and write rows back to disk?"
QUESTIONS = [
    "How do I read a CSV file?",
    "What does json.dumps do with non-ASCII text?",
    "How can I create a temporary directory that is removed afterwards?",
    "How do I sort a list of dictionaries by a key?",
    "What is a virtual environment for?",
]
ROUTES = ("/simple", "/history", "/chat")


def payload(route: str, index: int, turn: int) -> dict[str, object]:
    # Numbered: every turn's question (and so its retrieval query) is one not seen before.
    question = f"{QUESTIONS[index % len(QUESTIONS)]} (turn {turn})"
    if route == "/simple":
        return {"question": question}
    return {"question": question, "username": "bench", "session_id": f"s{index % SESSIONS}"}


async def measure(base_url: str, rounds: int) -> dict[str, list[float]]:
    ttfts: dict[str, list[float]] = {route: [] for route in ROUTES}
    turns = itertools.count()
    async with httpx.AsyncClient(timeout=60.0) as client:
        for index in range(2 * SESSIONS):  # warm-up: model, index, database; seed histories
            for route in ROUTES:
                await _checked(client, base_url, payload(route, index, next(turns)), route)
        for index in range(rounds):
            order = ROUTES if index % 2 == 0 else tuple(reversed(ROUTES))
            for route in order:
                body = payload(route, index, next(turns))
                ttfts[route].append(await _checked(client, base_url, body, route))
    return ttfts


async def _checked(
    client: httpx.AsyncClient, base_url: str, body: dict[str, object], route: str
) -> float:
    timing = await timed_stream(client, f"{base_url}{route}/stream", body)
    if timing.error or timing.ttft is None:
        raise RuntimeError(f"{route}: {timing.error or 'no tokens'}")
    return ms(timing.ttft)


def rows(ttfts: dict[str, list[float]]) -> list[Row]:
    chat, simple = ttfts["/chat"], ttfts["/simple"]
    note = "client-measured on loopback, nothing subtracted"
    out = [
        Row(
            NAME,
            "TTFT p50, /chat (history + 10k-chunk hybrid retrieval)",
            median(chat),
            "ms",
            f"≤ {TARGET_P50_MS:g} ms",
            median(chat) <= TARGET_P50_MS,
            note,
        ),
        Row(NAME, "TTFT p95, /chat", percentile(chat, 95), "ms"),
        Row(
            NAME,
            "TTFT p50, /history (SQLite history, no retrieval)",
            median(ttfts["/history"]),
            "ms",
        ),
        Row(NAME, "TTFT p50, /simple (baseline: no history, no retrieval)", median(simple), "ms"),
        Row(
            NAME,
            "graph cost: /chat − /simple (paired median)",
            median([c - s for c, s in zip(chat, simple, strict=True)]),
            "ms",
            note=f"{len(chat)} interleaved rounds",
        ),
    ]
    return out


def main(quick: bool = False) -> list[Row]:
    chunks, rounds = (500, 3) if quick else (CHUNKS, 60)
    env = {"BENCH_FAKE_TEXT": FAKE_TEXT, "BENCH_FAKE_TOKEN_DELAY_MS": "0"}
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        data_dir = Path(tmp) / "data"
        share_model_cache(data_dir)
        build_synthetic_index(data_dir / "index", chunks)
        with serve(FAKE_APP, Path(tmp), env) as server:
            return rows(asyncio.run(measure(server.url, rounds)))


if __name__ == "__main__":
    run_cli(main, __doc__)
