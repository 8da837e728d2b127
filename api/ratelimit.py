"""Per-user rate limit: a token bucket, in memory per process or shared through Redis."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import HTTPException, Request, status

from api import metrics
from api.body import is_json, media_type
from settings import Settings


class Bucket(Protocol):
    async def take(self, key: str) -> float:
        """0 when a request may go ahead, else the seconds to wait."""


@dataclass
class MemoryBuckets:
    """Per replica: N replicas allow N × the rate. Set REDIS_URL to share one budget."""

    per_minute: int
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)

    async def take(self, key: str) -> float:
        now = time.monotonic()
        rate = self.per_minute / 60.0
        tokens, last = self._state.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now)
            return 0.0
        self._state[key] = (tokens, now)
        return (1.0 - tokens) / rate


# Atomic in Redis: refill, take one, store; returns the wait in ms (0 = allowed).
_REDIS_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return wait
"""


@dataclass
class RedisBuckets:
    per_minute: int
    url: str
    _client: Any = None
    _script: Any = None

    async def take(self, key: str) -> float:
        if self._client is None:
            import redis.asyncio as redis

            self._client = redis.from_url(self.url)
            self._script = self._client.register_script(_REDIS_BUCKET)
        wait_ms = await self._script(
            keys=[f"ragchat:rate:{key}"],
            args=[self.per_minute, self.per_minute / 60.0, time.time()],
        )
        return int(wait_ms) / 1000.0


def build_buckets(settings: Settings) -> Bucket | None:
    if settings.rate_limit_per_minute <= 0:
        return None
    if settings.redis_url:
        return RedisBuckets(settings.rate_limit_per_minute, settings.redis_url)
    return MemoryBuckets(settings.rate_limit_per_minute)


async def _body_username(request: Request) -> str | None:
    """The username a JSON body names; other bodies are not the limiter's to read.

    FastAPI has read the body for the route before any dependency runs. A JSON body is
    kept as bytes, so reading it again costs nothing; a form or multipart body was
    streamed into the form parser and is gone ("Stream consumed"). Those requests are
    keyed by the authenticated user or the client address instead.
    """
    if request.method != "POST":
        return request.query_params.get("username")
    if not is_json(media_type(request)):
        return None
    try:
        payload = await request.json()
    except ValueError:  # malformed JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None
    if not isinstance(payload, dict):
        return None
    candidate = payload.get("input") if isinstance(payload.get("input"), dict) else payload
    # LangServe bodies carry `input.username`; OpenAI-style bodies carry `user`.
    name = (
        (candidate.get("username") or candidate.get("user"))
        if isinstance(candidate, dict)
        else None
    )
    return name if isinstance(name, str) else None


def rate_limit_guard(buckets: Bucket | None):  # type: ignore[no-untyped-def]
    """A route dependency; runs after `authenticate`, so the key's user is known."""

    async def check(request: Request) -> None:
        if buckets is None:
            return
        user = getattr(request.state, "user", None) or await _body_username(request)
        key = f"user:{user}" if user else f"ip:{request.client.host if request.client else '?'}"
        wait = await buckets.take(key)
        if wait > 0:
            metrics.RATE_LIMITED.inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "rate limit exceeded (RATE_LIMIT_PER_MINUTE); retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    return check
