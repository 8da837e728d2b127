"""ASGI middleware: one structured log line per request, and a cap on requests in flight.

`RequestLog` also keeps streams to the same error contract as `invoke`: LangServe ends a
failed stream with an anonymous `{"status_code": 500, "message": "Internal Server Error"}`
event (it cannot tell a known failure from a bug). The route's runnable records the known
failure (`note_fault`) before LangServe sees it, and the event is rewritten here with the
status and message `invoke` would answer. Unknown errors stay anonymous.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.errors import send_json_error, status_for
from chains.retrieval import SEARCH_LISTENERS

access_log = logging.getLogger("ragchat.access")


@dataclass
class RequestStats:
    """Filled in while a request runs; read when its response ends."""

    user: str | None = None
    tokens: int = 0
    fault: tuple[int, str] | None = None  # a known failure of a stream, mapped like invoke
    failure: BaseException | None = None  # what failed, for the metrics
    stage: str | None = None  # the graph stage that answered, for per-stage metrics
    first_token: float | None = None  # perf_counter() at the first answer token


current_request: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "current_request", default=None
)


def count_tokens(n: int = 1) -> None:
    stats = current_request.get()
    if stats is not None:
        if stats.first_token is None:
            stats.first_token = time.perf_counter()
        stats.tokens += n


def note_stage(stage: str) -> None:
    stats = current_request.get()
    if stats is not None:
        stats.stage = stage


def _observe_retrieval(seconds: float) -> None:
    stats = current_request.get()
    stage = stats.stage if stats is not None and stats.stage else "retrieve"
    metrics.RETRIEVAL_SECONDS.labels(stage).observe(seconds)


# A listener, not a callback handler on the run: a handler in the config makes LangChain
# dispatch every token to it, which halves the tokens/s the server streams.
if _observe_retrieval not in SEARCH_LISTENERS:
    SEARCH_LISTENERS.append(_observe_retrieval)


def note_fault(exc: BaseException) -> None:
    """Remember how `invoke` would answer `exc`, for the stream's `error` event."""
    stats = current_request.get()
    if stats is not None:
        stats.failure = exc
        stats.fault = status_for(exc)


ANONYMOUS_ERROR = json.dumps({"status_code": 500, "message": "Internal Server Error"}).encode()
REQUEST_ID = "x-request-id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID.encode():
            candidate = value.decode("latin-1")
            if _REQUEST_ID_OK.match(candidate):
                return candidate
    return uuid.uuid4().hex


def note_user(user: str | None) -> None:
    stats = current_request.get()
    if stats is not None and user:
        stats.user = user


class RequestLog:
    """request id, route, user, status, latency, tokens: never bodies, headers or secrets.

    The request id (the caller's `X-Request-ID`, or a new one) is echoed in the response's
    `X-Request-ID` header, so a user's error report finds its log line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = RequestStats()
        token = current_request.set(stats)
        request_id = request_id_from(scope)
        started = time.perf_counter()
        status = 500
        response_started = response_done = False

        async def logging_send(message: Message) -> None:
            nonlocal status, response_started, response_done
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if stats.fault is not None and ANONYMOUS_ERROR in body:
                    mapped = json.dumps({"status_code": stats.fault[0], "message": stats.fault[1]})
                    message = {**message, "body": body.replace(ANONYMOUS_ERROR, mapped.encode())}
                if not message.get("more_body"):
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
            seconds = time.perf_counter() - started
            # A stream that failed after a 200 counts under the status invoke would answer.
            outcome = stats.fault[0] if stats.fault is not None else status
            metrics.observe_request(scope, outcome, seconds)
            failure = stats.failure or scope.get("state", {}).get("failure")
            if failure is not None:
                metrics.count_failure(failure, status_for(failure))
            if stats.stage and stats.first_token is not None:
                metrics.observe_tokens(stats.stage, started, stats.first_token, stats.tokens)
            access_log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "route": scope.get("path"),
                        "user": stats.user,
                        "status": status,
                        **({"error_status": stats.fault[0]} if stats.fault else {}),
                        "latency_ms": round(seconds * 1000, 1),
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
