"""Readiness: is every dependency the routes need answering right now?

`/health` says the process is up (cheap, for HEALTHCHECK and Spaces); `/ready` asks the LLM
(the endpoint over HTTP, or whether the local model loaded), the history database, the
index and Redis (when set), each within a short timeout, all at once, and remembers the
answer a few seconds so a load balancer polling every second does not load them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from api.errors import status_for
from chains.index.backend import IndexUnavailable
from chains.llm import llama_build
from graph.resources import Resources

log = logging.getLogger("ragchat.ready")

CHECK_TIMEOUT = 2.0  # seconds per dependency
CACHE_SECONDS = 3.0


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.ms, 1)}


Probe = Callable[[], Awaitable[str]]  # returns a detail; raises when the dependency is down


async def probe_endpoint(url: str) -> str:
    """An OpenAI/TGI-compatible server: `/health` (TGI, llama.cpp), else `/v1/models`."""
    base = url.rstrip("/").removesuffix("/v1")
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT) as client:
        for path in ("/health", "/v1/models"):
            response = await client.get(base + path)
            if response.status_code < 400:
                return f"{path} answered {response.status_code}"
        raise RuntimeError(f"{path} answered {response.status_code}")


class Readiness:
    """The probes for one server's settings, run together and cached briefly."""

    def __init__(self, resources: Resources, llm_loaded: Callable[[], str | None]) -> None:
        self.resources = resources
        self._llm_loaded = llm_loaded  # None when loaded, else why not
        self._cached: tuple[float, dict[str, Check]] | None = None
        self._lock = asyncio.Lock()

    def probes(self) -> dict[str, Probe]:
        settings = self.resources.settings
        probes: dict[str, Probe] = {
            "llm": self._llm,
            "history": self._history,
            "index": self._index,
        }
        if settings.redis_url:
            probes["redis"] = self._redis
        return probes

    async def _llm(self) -> str:
        settings = self.resources.settings
        if settings.llm_provider == "endpoint":
            return await probe_endpoint(settings.llm_endpoint_url)
        if settings.llm_provider == "huggingface":
            # The hosted API has no health route a token may call without spending it.
            return "hosted model: not probed"
        problem = self._llm_loaded()
        if problem is not None:
            raise RuntimeError(problem)
        chosen = llama_build.CHOSEN
        return f"local model loaded; llama.cpp: {chosen.note}" if chosen else "local model loaded"

    async def _history(self) -> str:
        await self.resources.check_history()
        return "database answered"

    async def _index(self) -> str:
        """Ready when the index can be read, documents or not: a fresh deployment must get
        traffic, or nobody can upload its first documents. Only an index that exists and
        cannot be read (or a Pinecone that does not answer) is down."""
        backend = self.resources.settings.vector_backend
        try:
            stats = await self.resources.index_stats()
        except IndexUnavailable as exc:
            # The full reason names server paths; /ready is open, the log has it.
            log.warning("not ready: %s", exc)
            raise RuntimeError("the index cannot be read (see the server log)") from exc
        chunks = stats.get("chunks")
        if not chunks:
            return f"{backend} index empty: no documents yet (POST /documents or ragchat ingest)"
        return f"{backend} index open: {chunks} chunks"

    async def _redis(self) -> str:
        from redis.asyncio import from_url

        client = from_url(self.resources.settings.redis_url)
        try:
            await client.ping()
        except Exception as exc:  # its message names the host: for the log only
            log.warning("not ready: Redis: %s", exc)
            raise RuntimeError("Redis did not answer PING (see the server log)") from exc
        finally:
            await client.aclose()
        return "ping answered"

    async def check(self) -> dict[str, Check]:
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            probes = self.probes()
            results = await asyncio.gather(*(_run(probe) for probe in probes.values()))
            checks = dict(zip(probes, results, strict=True))
            self._cached = (time.monotonic(), checks)
            return checks


async def _run(probe: Probe) -> Check:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), CHECK_TIMEOUT)
        ok = True
    except TimeoutError:
        detail, ok = f"no answer within {CHECK_TIMEOUT:g} s", False
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        mapped = status_for(exc)
        detail, ok = (mapped[1] if mapped else str(exc) or type(exc).__name__), False
    return Check(ok, detail, (time.perf_counter() - started) * 1000)
