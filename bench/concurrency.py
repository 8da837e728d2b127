"""Many simultaneous streaming clients against one server whose fake model is paced.

The fake emits a word every 20 ms, 50 words per answer, so a perfect server
gives every client 50 tokens/s: N clients should see N × 50 tokens/s in
aggregate, and their first token after ~20 ms. What is lost on top is the
server's (and this machine's loopback) overhead under load. Each client is its
own `httpx.AsyncClient` streaming `/formatted/stream`; all start together; each
level is warmed up once (connections opened) and then measured `repeats` times.

The CPU seconds the server process and this client process spend per delivered
token are reported too: they decide the ceiling on a 2-core machine whatever
else is running, where wall-clock figures move with the machine's other load.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.launch import FAKE_APP, Server, serve
from bench.report import RESULTS_DIR, Row, run_cli
from bench.sse_client import StreamTiming, timed_stream
from bench.stats import median, ms, percentile

NAME = "concurrency"
LEVELS = (1, 10, 50, 100, 200)
TOKENS = 50
TOKEN_DELAY_S = 0.020
TARGET_CLIENTS = 100
TARGET_P95_TTFT_MS = 150.0
TARGET_FRACTION_OF_IDEAL = 0.9
ROUTE = "/formatted/stream"


@dataclass(frozen=True)
class LevelResult:
    clients: int
    ttft_p50_ms: float
    ttft_p95_ms: float
    errors: int
    tokens_per_s: float
    ideal_tokens_per_s: float
    server_cpu_us_per_token: float
    client_cpu_us_per_token: float
    first_error: str = ""

    @property
    def fraction_of_ideal(self) -> float:
        return self.tokens_per_s / self.ideal_tokens_per_s


async def _round(clients: list[httpx.AsyncClient], url: str) -> tuple[list[StreamTiming], float]:
    start = time.perf_counter()
    timings = await asyncio.gather(
        *(
            timed_stream(client, url, {"question": f"question {i}"})
            for i, client in enumerate(clients)
        )
    )
    return list(timings), time.perf_counter() - start


async def measure_level(server: Server, clients: int, repeats: int, tokens: int) -> LevelResult:
    """One `httpx.AsyncClient` per simulated user, like independent browsers: a single shared
    client's connection pool costs O(connections) per request and, past ~50 streams, more
    CPU than the server it measures."""
    url = server.url + ROUTE
    p50s, p95s, rates, server_cpu, client_cpu, errors = [], [], [], [], [], 0
    first_error = ""
    users = [httpx.AsyncClient(timeout=60.0) for _ in range(clients)]
    try:
        await _round(users, url)  # warm-up: opens the connections
        for _ in range(repeats):
            server_before, client_before = server.cpu_seconds(), time.process_time()
            timings, wall = await _round(users, url)
            delivered = max(1, sum(t.words for t in timings))
            server_cpu.append((server.cpu_seconds() - server_before) / delivered * 1e6)
            client_cpu.append((time.process_time() - client_before) / delivered * 1e6)
            failed = [t for t in timings if t.error is not None or t.words != tokens]
            errors += len(failed)
            if failed and not first_error:
                first_error = failed[0].error or f"{failed[0].words} of {tokens} words"
            ttfts = [ms(t.ttft) for t in timings if t.ttft is not None]
            p50s.append(percentile(ttfts, 50))
            p95s.append(percentile(ttfts, 95))
            rates.append(delivered / wall)
            await asyncio.sleep(0.2)
    finally:
        await asyncio.gather(*(user.aclose() for user in users))
    return LevelResult(
        clients,
        median(p50s),
        median(p95s),
        errors,
        median(rates),
        clients / TOKEN_DELAY_S,
        median(server_cpu),
        median(client_cpu),
        first_error,
    )


def plot(results: list[LevelResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clients = [r.clients for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(clients, [r.ttft_p50_ms for r in results], "o-", label="TTFT p50")
    left.plot(clients, [r.ttft_p95_ms for r in results], "s-", label="TTFT p95")
    left.axhline(TARGET_P95_TTFT_MS, color="grey", ls="--", label="p95 target @100")
    left.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent clients",
        ylabel="ms",
        title="Time to first token (model: 1 token / 20 ms)",
    )
    right.plot(clients, [r.tokens_per_s for r in results], "o-", label="measured")
    right.plot(clients, [r.ideal_tokens_per_s for r in results], "k:", label="ideal")
    right.plot(
        clients,
        [TARGET_FRACTION_OF_IDEAL * r.ideal_tokens_per_s for r in results],
        color="grey",
        ls="--",
        label="90 % of ideal",
    )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent clients",
        ylabel="tokens/s",
        title="Aggregate tokens/s delivered",
    )
    for axis in (left, right):
        axis.set_xticks(clients, [str(c) for c in clients])
        axis.grid(True, which="major", alpha=0.3)
        axis.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rows(results: list[LevelResult]) -> list[Row]:
    out = []
    for r in results:
        at_target = r.clients == TARGET_CLIENTS
        out.append(Row(NAME, f"TTFT p50 @ {r.clients} clients", r.ttft_p50_ms, "ms"))
        out.append(
            Row(
                NAME,
                f"TTFT p95 @ {r.clients} clients",
                r.ttft_p95_ms,
                "ms",
                f"≤ {TARGET_P95_TTFT_MS:g} ms" if at_target else "—",
                r.ttft_p95_ms <= TARGET_P95_TTFT_MS if at_target else None,
            )
        )
        out.append(
            Row(
                NAME,
                f"aggregate tokens/s @ {r.clients} clients",
                r.tokens_per_s,
                "tok/s",
                f"≥ {TARGET_FRACTION_OF_IDEAL:g} × {r.ideal_tokens_per_s:,.0f}"
                if at_target
                else "—",
                r.fraction_of_ideal >= TARGET_FRACTION_OF_IDEAL if at_target else None,
                f"{r.fraction_of_ideal:.2f} × ideal",
            )
        )
    busiest = next((r for r in results if r.clients == TARGET_CLIENTS), results[-1])
    out.append(
        Row(
            NAME,
            f"server CPU per token @ {busiest.clients} clients",
            busiest.server_cpu_us_per_token,
            "µs",
            note=f"one core serves at most {1e6 / busiest.server_cpu_us_per_token:,.0f} tokens/s",
        )
    )
    out.append(
        Row(
            NAME,
            f"client (httpx) CPU per token @ {busiest.clients} clients",
            busiest.client_cpu_us_per_token,
            "µs",
            note="the load generator shares the 2 cores",
        )
    )
    total_errors = sum(r.errors for r in results)
    first = next((f"@ {r.clients}: {r.first_error}" for r in results if r.first_error), "")
    out.append(
        Row(
            NAME,
            "errors, all levels",
            float(total_errors),
            "",
            "0",
            total_errors == 0,
            f"failed or short streams; first: {first[:150]}"
            if first
            else "failed or short streams",
        )
    )
    return out


def main(quick: bool = False, plot_path: Path | None = None) -> list[Row]:
    levels, repeats, tokens = ((1, 10), 1, 10) if quick else (LEVELS, 3, TOKENS)
    env = {"BENCH_FAKE_TOKENS": str(tokens), "BENCH_FAKE_TOKEN_DELAY_MS": str(TOKEN_DELAY_S * 1000)}
    with (
        tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp,
        serve(FAKE_APP, Path(tmp), env) as server,
    ):
        results = [asyncio.run(measure_level(server, n, repeats, tokens)) for n in levels]
    plot(results, plot_path or RESULTS_DIR / "concurrency.png")
    return rows(results)


if __name__ == "__main__":
    run_cli(main, __doc__)
