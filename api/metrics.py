"""Prometheus metrics through prometheus-client: what the server counts, and `/metrics`.

Several uvicorn workers report through one `/metrics` with the library's multiprocess
mode: set `PROMETHEUS_MULTIPROC_DIR` to an empty folder before the workers start
(`ragchat serve --workers N` does it). Labels are bounded: a route is its template
(`/history/{session_id}`), never the raw path; a stage is one of the graph's stages.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.types import Scope

from chains.llm import LLMTimeout, LLMUnavailable, prefix_cache
from chains.llm.queue import WAIT_LISTENERS, WAITING

__all__ = ["CONTENT_TYPE_LATEST", "render"]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter(
    "ragchat_requests_total",
    "HTTP requests by route template and status (a failed stream counts under the status "
    "invoke would answer)",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "ragchat_request_duration_seconds",
    "Time from request to the end of the response (the whole stream for a stream)",
    ["method", "route"],
    buckets=_SECONDS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "ragchat_time_to_first_token_seconds",
    "Time from request to the first answer token, per stage",
    ["stage"],
    buckets=_SECONDS,
)
TOKENS_PER_SECOND = Histogram(
    "ragchat_tokens_per_second",
    "Answer tokens per second after the first one, per stage",
    ["stage"],
    buckets=(1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 400),
)
RETRIEVAL_SECONDS = Histogram(
    "ragchat_retrieval_duration_seconds",
    "Time of a retrieval (embed the query, search the index), per stage",
    ["stage"],
    buckets=_SECONDS,
)
FAILURES = Counter(
    "ragchat_failures_total",
    "Known failures by the status clients get and their cause",
    ["status", "cause"],
)
LLM_ERRORS = Counter(
    "ragchat_llm_errors_total",
    "LLM failures by cause: unreachable, timeout, unavailable",
    ["cause"],
)
RATE_LIMITED = Counter("ragchat_rate_limited_total", "Requests refused by the rate limit (429)")
LLM_QUEUE_DEPTH = Gauge(
    "ragchat_llm_queue_depth",
    "Requests waiting for the embedded model (it generates for one request at a time)",
    multiprocess_mode="livesum",
)
PREFIX_CACHE_LOOKUPS = Counter(
    "ragchat_llm_prefix_cache_lookups_total",
    "Prompts of the embedded model by where their longest known prefix was: restored "
    "(a kept state was loaded), in_context (already in the model's context), miss",
    ["result"],
)
PREFIX_CACHE_BYTES = Gauge(
    "ragchat_llm_prefix_cache_bytes",
    "RAM held by kept prompt states (LLM_PREFIX_CACHE_BYTES bounds it)",
    multiprocess_mode="livesum",
)
LLM_QUEUE_WAIT = Histogram(
    "ragchat_llm_queue_wait_seconds",
    "Time a generation waited in the embedded model's queue before it started",
    buckets=_SECONDS,
)


def route_label(scope: Scope) -> str:
    """The matched route's template, so labels stay few; `unmatched` for a 404."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    method, route = str(scope.get("method", "")), route_label(scope)
    REQUESTS.labels(method, route, str(status)).inc()
    REQUEST_SECONDS.labels(method, route).observe(seconds)


def observe_tokens(stage: str, started: float, first_token: float, tokens: int) -> None:
    """Time to first token and the rate after it, once a stage's answer has ended."""
    TIME_TO_FIRST_TOKEN.labels(stage).observe(first_token - started)
    streaming = time.perf_counter() - first_token
    if tokens > 1 and streaming > 0:
        TOKENS_PER_SECOND.labels(stage).observe((tokens - 1) / streaming)


def count_failure(exc: BaseException, mapped: tuple[int, str] | None) -> None:
    status = str(mapped[0]) if mapped else "500"
    FAILURES.labels(status, type(exc).__name__).inc()
    cause = llm_cause(exc, mapped)
    if cause is not None:
        LLM_ERRORS.labels(cause).inc()


def llm_cause(exc: BaseException, mapped: tuple[int, str] | None) -> str | None:
    if isinstance(exc, LLMTimeout):
        return "timeout"
    if isinstance(exc, LLMUnavailable):
        return "unavailable"
    if mapped is not None and mapped[0] == 504:
        return "timeout"
    if mapped is not None and mapped[0] == 502:
        return "unreachable"
    return None


def set_llm_queue_depth(waiting: int) -> None:
    LLM_QUEUE_DEPTH.set(waiting)


def observe_llm_queue_wait(seconds: float) -> None:
    LLM_QUEUE_WAIT.observe(seconds)


def count_prefix_lookup(result: str) -> None:
    PREFIX_CACHE_LOOKUPS.labels(result).inc()


def set_prefix_cache_bytes(size: int) -> None:
    PREFIX_CACHE_BYTES.set(size)


if count_prefix_lookup not in prefix_cache.LOOKUP_LISTENERS:
    prefix_cache.LOOKUP_LISTENERS.append(count_prefix_lookup)
    prefix_cache.SIZE_LISTENERS.append(set_prefix_cache_bytes)
if set_llm_queue_depth not in WAITING.listeners:
    WAITING.listeners.append(set_llm_queue_depth)
if observe_llm_queue_wait not in WAIT_LISTENERS:
    WAIT_LISTENERS.append(observe_llm_queue_wait)


def render() -> bytes:
    """The text exposition: this process's metrics, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
