"""ASGI middleware: one structured log line per request, and a cap on requests in flight."""

from __future__ import annotations

import contextvars
import json
import logging
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import send_json_error

access_log = logging.getLogger("ragchat.access")


@dataclass
class RequestStats:
    """Filled in while a request runs; read when its response ends."""

    user: str | None = None
    tokens: int = 0


current_request: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "current_request", default=None
)


def count_tokens(n: int = 1) -> None:
    stats = current_request.get()
    if stats is not None:
        stats.tokens += n


def note_user(user: str | None) -> None:
    stats = current_request.get()
    if stats is not None and user:
        stats.user = user


class RequestLog:
    """route, user, status, latency, tokens: never bodies, headers or secrets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = RequestStats()
        token = current_request.set(stats)
        started = time.perf_counter()
        status = 500
        response_started = response_done = False

        async def logging_send(message: Message) -> None:
            nonlocal status, response_started, response_done
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                response_done = True
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        except Exception:
            if not response_started:
                raise  # Starlette's error middleware answers 500
            # A stream that failed after its headers left: LangServe has already sent an
            # SSE `error` event and re-raises; end the body cleanly instead of letting the
            # server cut the connection mid-chunk.
            access_log.exception("stream failed on %s", scope.get("path"))
            if not response_done:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            current_request.reset(token)
            access_log.info(
                json.dumps(
                    {
                        "method": scope.get("method"),
                        "route": scope.get("path"),
                        "user": stats.user,
                        "status": status,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                        "tokens": stats.tokens,
                    }
                )
            )


class ConcurrencyLimit:
    """Past `limit` requests in flight, answer 503 at once instead of queueing forever.

    A flood then degrades to fast refusals; `/health` is always answered.
    """

    def __init__(self, app: ASGIApp, limit: int, exempt: tuple[str, ...] = ("/health",)) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            message = (
                f"server busy: {self.limit} requests in flight (MAX_CONCURRENT_REQUESTS); "
                "retry shortly"
            )
            await send_json_error(send, scope["path"], 503, message, {"Retry-After": "1"})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
