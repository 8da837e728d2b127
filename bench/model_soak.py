"""Soak on the real model: 8 users on default settings for 5 minutes, one model between them.

The real server (the embedded default model unless `LLM_MODEL` says otherwise, every
other setting as shipped: rate limit, request cap, answer length) over the ingested
samples. Each user asks `/chat` a question, reads the answer to its end and asks the
next one at once, in a few sessions of their own, so the fair queue always holds about
one question per user. Every fifth question the user hangs up: either while it still
waits in the queue or a few words into its answer. Pass criteria: no 5xx (status or SSE
error event), no answer over `REQUEST_TIMEOUT`, no other failure, and every session's
stored history (read through `/sessions/{id}/messages`) is exactly what was asked, in
order: each finished answer once under its id, each stopped one marked incomplete.

    python -m bench.model_soak                          # 8 users, 5 minutes
    python -m bench.model_soak --minutes 1 --clients 4  # shorter
    LLM_MODEL=smollm2-135m python -m bench.model_soak --minutes 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.launch import REAL_APP, UNTHROTTLED, serve
from bench.real_model import ingest_samples, questions
from bench.report import Row, not_available, render_table
from bench.soak import rss_kib
from bench.soak_history import Exchange, LeftAt, check_history
from bench.sse_client import sse_event
from bench.stats import median, percentile
from bench.synthetic_index import SAMPLES, share_model_cache
from settings import Settings

NAME = "soak on the real model"
# The worst honest wait is every other user's answer ahead of yours: 7 × (a 256-token
# answer at the slowest rate measured here, ~15 tok/s, plus ~3 s of prompt) ≈ 140 s on a
# quiet machine. 300 s leaves twice that for a busy one, while a question the queue lost
# or a generation that hangs never ends, and is caught.
REQUEST_TIMEOUT = 300.0
SESSIONS_PER_USER = 3
# Where the n-th question of user u hangs up: LEAVES[(u + n) % len(LEAVES)]. A fixed
# cycle, so a short run hangs up too and a run can be repeated.
LEAVES: tuple[LeftAt | None, ...] = (
    None,
    "waiting",
    None,
    None,
    None,
    "answering",
    None,
    None,
    None,
    None,
)
ANSWER_CHUNKS_BEFORE_LEAVING = 3


@dataclass(frozen=True)
class Plan:
    clients: int
    minutes: float
    folder: Path
    env: dict[str, str] = field(default_factory=dict)


FULL = Plan(clients=8, minutes=5.0, folder=SAMPLES)
# Short answers and the smallest folder: it checks the mechanics, not the model.
QUICK = Plan(clients=2, minutes=0.25, folder=SAMPLES / "tutorial", env={"MAX_NEW_TOKENS": "32"})


def shipped_limits() -> dict[str, str]:
    """The guards `bench.launch` lifts for load tests, put back at their shipped values:
    this soak is about default settings."""
    fields = Settings.model_fields
    return {
        name: str(fields[name.lower()].default)
        for name in UNTHROTTLED
        if name.lower() in fields and name != "LOG_LEVEL"
    }


def warm_up(plan: Plan) -> float:
    """Seconds before the RSS baseline: the model and the kept prompt states settle first."""
    return min(60.0, plan.minutes * 20)


@dataclass
class Reading:
    """What one `/chat/stream` has sent so far."""

    answer_chunks: int = 0
    queued: bool = False
    first_words: float | None = None
    message_id: str | None = None
    error: str | None = None


async def ask(
    client: httpx.AsyncClient,
    url: str,
    user: str,
    session: str,
    question: str,
    leave: LeftAt | None,
) -> Exchange:
    """Ask once; hang up where `leave` says; time out after REQUEST_TIMEOUT."""
    started = time.perf_counter()
    reading = Reading()

    def ended(outcome: Any, detail: str = "", left_at: LeftAt | None = None) -> Exchange:
        return Exchange(
            user,
            session,
            question,
            outcome,
            time.perf_counter() - started,
            reading.first_words,
            reading.message_id,
            left_at,
            detail,
        )

    payload = {"question": question, "username": user, "session_id": session}
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            async with client.stream(
                "POST", f"{url}/chat/stream", json={"input": payload}
            ) as response:
                if response.status_code != 200:
                    body = (await response.aread())[:200].decode(errors="replace")
                    kind = "server error" if response.status_code >= 500 else "refused"
                    return ended(kind, f"HTTP {response.status_code}: {body}")
                buffer = b""
                async for raw in response.aiter_raw():
                    buffer += raw
                    *events, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
                    for event in events:
                        take_event(reading, event, time.perf_counter() - started)
                    if reading.error:
                        return ended("server error", reading.error)
                    where = leave_now(reading, leave)
                    if where:
                        return ended("left", left_at=where)
    except (TimeoutError, httpx.TimeoutException):
        return ended("timeout", f"no end within {REQUEST_TIMEOUT:.0f} s")
    except httpx.HTTPError as exc:
        return ended("failed", f"{type(exc).__name__}: {exc}")
    if reading.message_id is None:
        return ended("failed", "the stream ended without a closing chunk")
    return ended("answered")


def take_event(reading: Reading, event: bytes, arrived: float) -> None:
    """One SSE event of a LangServe stream: data chunks, or an `error` event."""
    name, data = sse_event(event)
    if name == "error":
        reading.error = f"SSE error: {data[:200].decode(errors='replace')}"
    if name != "data" or not data:
        return
    chunk = json.loads(data)
    if not isinstance(chunk, dict):
        return
    if chunk.get("answer"):
        reading.answer_chunks += 1
        if reading.first_words is None:
            reading.first_words = arrived
    if isinstance(chunk.get("queue"), dict):
        reading.queued = True
    if chunk.get("message_id"):
        reading.message_id = str(chunk["message_id"])


def leave_now(reading: Reading, leave: LeftAt | None) -> LeftAt | None:
    """Where to hang up now, if this question's user does. One who meant to leave the queue
    but was never queued leaves at the first words instead."""
    if leave is None or reading.message_id is not None:
        return None
    if reading.answer_chunks == 0:
        return "waiting" if leave == "waiting" and reading.queued else None
    if leave == "waiting" or reading.answer_chunks >= ANSWER_CHUNKS_BEFORE_LEAVING:
        return "answering"
    return None


async def user(url: str, index: int, asked: list[str], deadline: float) -> list[Exchange]:
    """One user: the next question as soon as the last one ended, until `deadline`."""
    done: list[Exchange] = []
    name = f"soak-user-{index}"
    async with httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=10)) as client:
        n = 0
        while time.monotonic() < deadline:
            question = asked[(index * 5 + n) % len(asked)]
            leave = LEAVES[(index + n) % len(LEAVES)]
            done.append(await ask(client, url, name, f"s{n % SESSIONS_PER_USER}", question, leave))
            n += 1
    return done


async def stored_sessions(
    url: str, exchanges: list[Exchange]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every session the soak used, as the server's history route lists it."""
    stored = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for name, session in sorted({(e.user, e.session) for e in exchanges}):
            got = await client.get(f"/sessions/{session}/messages", params={"username": name})
            stored[(name, session)] = got.json() if got.status_code == 200 else []
    return stored


async def soak(url: str, plan: Plan, asked: list[str]) -> tuple[list[Exchange], Any, float]:
    """All users at once for the plan's minutes, then the history check (retried for a few
    seconds: a hang-up's answer is stored a moment after the server notices it)."""
    deadline = time.monotonic() + plan.minutes * 60
    started = time.perf_counter()
    users = [user(url, i, asked, deadline) for i in range(plan.clients)]
    exchanges = [e for done in await asyncio.gather(*users) for e in done]
    elapsed = time.perf_counter() - started
    for _ in range(10):
        check = check_history(exchanges, await stored_sessions(url, exchanges))
        if not check.problems:
            break
        await asyncio.sleep(1.0)
    return exchanges, check, elapsed


def rows_for(
    plan: Plan,
    model: str,
    exchanges: list[Exchange],
    check: Any,
    elapsed: float,
    rss: tuple[int, int],
) -> list[Row]:
    by: dict[str, list[Exchange]] = {}
    for exchange in exchanges:
        by.setdefault(exchange.outcome, []).append(exchange)
    answered, left = by.get("answered", []), by.get("left", [])
    waiting = sum(e.left_at == "waiting" for e in left)
    others = by.get("refused", []) + by.get("failed", [])
    totals = [e.seconds for e in answered]
    first = [e.first_words for e in answered if e.first_words is not None]

    def count(figure: str, found: list[Any], target: str = "0") -> Row:
        details = "; ".join(sorted({str(getattr(e, "detail", e))[:80] for e in found})[:3])
        return Row(NAME, figure, len(found), "", target=target, ok=not found, note=details)

    return [
        Row(
            NAME,
            f"{plan.clients} users × {plan.minutes:g} min: questions asked",
            len(exchanges),
            "",
            note=f"{model}; {len(answered)} answered, {len(left)} left "
            f"({waiting} while waiting), {len(exchanges) / (elapsed / 60):.1f}/min",
        ),
        count("5xx or SSE error events", by.get("server error", [])),
        count(f"answers over {REQUEST_TIMEOUT:.0f} s (client timeout)", by.get("timeout", [])),
        count("other failures (4xx, dropped connection, no closing chunk)", others),
        count("history: exchanges lost, duplicated, misplaced or unmarked", check.problems),
        Row(
            NAME,
            "stopped exchanges marked incomplete",
            check.stopped_marked,
            "",
            target=f"= {len(left) - check.finished_first}",
            ok=check.stopped_marked == len(left) - check.finished_first,
            note=f"{check.finished_first} finished before the server saw the hang-up",
        ),
        Row(
            NAME,
            "answer time p50 (queue included)",
            median(totals),
            "s",
            note=f"p95 {percentile(totals, 95):.1f} s, max {max(totals, default=0):.1f} s",
        ),
        Row(
            NAME,
            "first words p50 (queue included)",
            median(first),
            "s",
            note=f"p95 {percentile(first, 95):.1f} s",
        ),
        Row(
            NAME,
            "server RSS at the end",
            rss[1] / 1024,
            "MiB",
            note=f"{rss[0] / 1024:.0f} MiB after warm-up ({warm_up(plan):.0f} s)",
        ),
    ]


def main(
    quick: bool = False, minutes: float | None = None, clients: int | None = None
) -> list[Row]:
    from chains.llm import LLMUnavailable
    from chains.llm.gguf import model_gguf
    from chains.models.presets import llm_model

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    try:  # the model LLM_MODEL names: the shipped default unless set
        model_gguf(settings)
    except LLMUnavailable as exc:
        return [not_available(NAME, str(exc))]
    plan = QUICK if quick else FULL
    plan = Plan(clients or plan.clients, minutes or plan.minutes, plan.folder, plan.env)
    asked = questions(40)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        share_model_cache(data_dir)
        ingest_samples(data_dir, plan.folder)
        with serve(REAL_APP, Path(tmp), {**shipped_limits(), **plan.env}) as server:

            async def run() -> tuple[list[Exchange], Any, float, tuple[int, int]]:
                task = asyncio.create_task(soak(server.url, plan, asked))
                await asyncio.sleep(warm_up(plan))
                baseline = rss_kib(server.pid)
                exchanges, check, elapsed = await task
                return exchanges, check, elapsed, (baseline, rss_kib(server.pid))

            exchanges, check, elapsed, rss = asyncio.run(run())
    for problem in check.problems[:20]:
        print("  !", problem)
    return rows_for(plan, llm_model(settings), exchanges, check, elapsed, rss)


if __name__ == "__main__":
    from bench.launch import stop_servers_on_sigterm

    stop_servers_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny run (smoke test)")
    parser.add_argument("--minutes", type=float, help=f"default {FULL.minutes:g}")
    parser.add_argument("--clients", type=int, help=f"default {FULL.clients}")
    args = parser.parse_args()
    print(render_table(main(args.quick, args.minutes, args.clients)))
