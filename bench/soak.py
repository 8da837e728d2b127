"""Soak: mixed traffic from 20 concurrent clients for 10 minutes against a real server process.

Streams (/chat, /history), history reads, retrieval, bad requests and clients that
leave mid-stream, against uvicorn serving the production app with a fake paced LLM
(so the server, not the model, is what runs for ten minutes) and the sample
documents in a real index. Pass criteria: no 5xx, RSS growth under 10 % from the
end of warm-up to the end, every completed exchange stored exactly once.

    python -m bench.soak                # 10 minutes, 20 clients
    python -m bench.soak --minutes 1    # shorter
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.launch import FAKE_APP, serve

USERS = [f"soak-user-{i}" for i in range(10)]
# Enough sessions that none outgrows MAX_HISTORY_MESSAGES (the read window) in 10 minutes.
SESSIONS = [f"s{i}" for i in range(20)]


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    completed: list[tuple[str, str, str, str]] = field(default_factory=list)  # user, sid, q, id


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def stream_chat(client: httpx.AsyncClient, tally: Tally, stage: str, leave: bool) -> None:
    user, sid = random.choice(USERS), random.choice(SESSIONS)
    question = f"soak question {uuid.uuid4().hex[:12]}: how do temporary files work?"
    payload = {
        "question": question,
        "username": user,
        "session_id": sid,
        "request_id": uuid.uuid4().hex,
    }
    message_id = None
    async with client.stream("POST", f"/{stage}/stream", json={"input": payload}) as response:
        tally.requests[f"{stage}/stream {response.status_code}"] += 1
        if response.status_code >= 500:
            tally.server_errors.append(f"{stage}/stream {response.status_code}")
            return
        seen = 0
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                if event == "error":
                    tally.server_errors.append(f"{stage}/stream error event")
            elif line.startswith("data:") and event == "data":
                seen += 1
                data = json.loads(line[5:])
                if isinstance(data, dict) and data.get("message_id"):
                    message_id = data["message_id"]
                if leave and seen == 3:
                    return  # the client goes away mid-answer
    if message_id:
        tally.completed.append((user, sid, question, message_id))


async def one_request(client: httpx.AsyncClient, tally: Tally) -> None:
    roll = random.random()
    if roll < 0.40:
        await stream_chat(client, tally, "chat", leave=False)
    elif roll < 0.55:
        await stream_chat(client, tally, "history", leave=False)
    elif roll < 0.65:
        await stream_chat(client, tally, "chat", leave=True)
    elif roll < 0.80:
        user = random.choice(USERS)
        for path in ("/sessions", f"/sessions/{random.choice(SESSIONS)}/messages"):
            response = await client.get(path, params={"username": user})
            tally.requests[f"GET {path.split('/')[1]} {response.status_code}"] += 1
            if response.status_code >= 500:
                tally.server_errors.append(f"GET {path} {response.status_code}")
    elif roll < 0.90:
        body = {"input": {"query": "temporary file", "k": 3, "filter": {"chunk": {"$gte": 0}}}}
        response = await client.post("/retrieve/invoke", json=body)
        tally.requests[f"retrieve {response.status_code}"] += 1
        if response.status_code >= 500:
            tally.server_errors.append(f"retrieve {response.status_code}")
    else:
        bad = random.choice(
            [
                {"input": {"question": "", "username": "u"}},
                {"input": {"question": "q", "username": "u", "filter": {"a": {"$regex": "x"}}}},
                {"input": {"question": "x" * 5000, "username": "u"}},
                {"inputs": None},
            ]
        )
        response = await client.post("/chat/invoke", json=bad)
        tally.requests[f"bad {response.status_code}"] += 1
        if response.status_code >= 500:
            tally.server_errors.append(f"bad request answered {response.status_code}")


async def client_loop(base: str, tally: Tally, deadline: float) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while time.monotonic() < deadline:
            try:
                await one_request(client, tally)
            except httpx.HTTPError as exc:
                tally.server_errors.append(f"transport: {type(exc).__name__}")


async def verify(base: str, tally: Tally) -> list[str]:
    """Every completed exchange is stored exactly once, answer id included."""
    problems = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        stored: dict[tuple[str, str], list[dict]] = {}
        for user in USERS:
            for sid in SESSIONS:
                response = await client.get(f"/sessions/{sid}/messages", params={"username": user})
                stored[(user, sid)] = response.json() if response.status_code == 200 else []
    for user, sid, question, message_id in tally.completed:
        messages = stored[(user, sid)]
        asked = [m for m in messages if m["content"] == question]
        answered = [m for m in messages if m["id"] == message_id]
        if len(asked) != 1 or len(answered) != 1:
            problems.append(f"{user}/{sid}: question x{len(asked)}, answer x{len(answered)}")
    return problems


def seed_index(data_dir: Path) -> None:
    from chains.ingest.pipeline import ingest
    from settings import Settings

    ingest(Settings(data_dir=data_dir), [Path("samples")], progress=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before RSS baseline")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ragchat-soak-"))
    seed_index(workdir / "data")
    env = {"BENCH_FAKE_TOKENS": "30", "BENCH_FAKE_TOKEN_DELAY_MS": "10"}
    tally = Tally()
    with serve(FAKE_APP, workdir, env) as server:
        base = server.url
        start = time.monotonic()
        deadline = start + args.minutes * 60

        async def run() -> tuple[int, int]:
            clients = [
                asyncio.create_task(client_loop(base, tally, deadline)) for _ in range(args.clients)
            ]
            await asyncio.sleep(min(args.warmup, args.minutes * 60 / 3))
            baseline = rss_kib(server.pid)
            await asyncio.gather(*clients)
            return baseline, rss_kib(server.pid)

        baseline, final = asyncio.run(run())
        problems = asyncio.run(verify(base, tally))
    growth = (final - baseline) / baseline * 100 if baseline else 0.0
    total = sum(tally.requests.values())
    ok = not tally.server_errors and growth < 10.0 and not problems
    print(
        f"| soak | {args.minutes:g} min, {args.clients} clients | {total} requests, "
        f"{len(tally.completed)} exchanges completed |"
    )
    print(f"| server errors | {len(tally.server_errors)} | target 0 |")
    print(
        f"| RSS | {baseline / 1024:.0f} → {final / 1024:.0f} MiB ({growth:+.1f} %) "
        "| target < 10 % |"
    )
    print(f"| history | {len(problems)} exchanges missing or duplicated | target 0 |")
    print(f"| verdict | {'PASS' if ok else 'MISS'} |")
    print("requests:", dict(sorted(tally.requests.items())))
    for line in (tally.server_errors + problems)[:20]:
        print("  !", line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
