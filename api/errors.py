"""Failures mapped to HTTP: which status each exception gets, and the bodies that carry it.

A leaf of the `api` package: every other module may import it, it imports none of them.
Under `/v1` errors take OpenAI's shape (`{"error": {"message", "type", "code", "param"}}`,
which the OpenAI SDKs and Open WebUI read); everywhere else ours (`{"detail", "status_code"}`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from huggingface_hub.errors import HfHubHTTPError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from chains.history import (
    DatabaseUnavailable,
    HistoryError,
    MessageNotFound,
    SessionNotFound,
    ThreadExists,
)
from chains.index.backend import IndexUnavailable
from chains.index.filters import InvalidSearch
from chains.llm import LLMTimeout, LLMUnavailable
from graph.context import MissingIdentity

log = logging.getLogger("ragchat.errors")

LLM_UNREACHABLE = "the LLM endpoint could not be reached (provider: endpoint/huggingface)"
LLM_TOO_SLOW = "the LLM endpoint did not answer within LLM_TIMEOUT_SECONDS"


class ThreadBusy(Exception):
    """A run is already in progress on the thread (the Agent Protocol's `reject` strategy)."""


class RunNotFound(Exception):
    """No run of that id is in progress on the caller's thread."""


class AssistantNotFound(Exception):
    """No assistant (stage graph) of that id or graph id."""


# Every exception type `status_for` knows; each gets the same handler.
KNOWN_FAILURES: tuple[type[BaseException], ...] = (
    HistoryError,
    ThreadBusy,
    RunNotFound,
    AssistantNotFound,
    IndexUnavailable,
    InvalidSearch,
    LLMUnavailable,
    LLMTimeout,
    MissingIdentity,
    httpx.TransportError,
    ConnectionError,
    TimeoutError,
    HfHubHTTPError,
)


def status_for(exc: BaseException) -> tuple[int, str] | None:
    """(status, message for the client) for a known failure, None for anything else."""
    if isinstance(exc, SessionNotFound | MessageNotFound | RunNotFound | AssistantNotFound):
        return 404, str(exc)
    if isinstance(exc, ThreadBusy | ThreadExists):
        return 409, str(exc)
    if isinstance(exc, DatabaseUnavailable):
        # The detail (host, driver reason) goes to the log, not to clients.
        log.error("history database unavailable: %s", exc)
        return 503, "the chat history database is unavailable; try again shortly"
    if isinstance(exc, LLMUnavailable):
        return 503, f"the LLM is unavailable ({exc})"
    if isinstance(exc, LLMTimeout):
        return 504, str(exc)
    if isinstance(exc, MissingIdentity | InvalidSearch):
        return 422, str(exc)
    if isinstance(exc, IndexUnavailable):
        return 503, f"the document index is unavailable: {exc}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return 504, LLM_TOO_SLOW
    if isinstance(exc, httpx.TransportError | ConnectionError | HfHubHTTPError):
        return 502, LLM_UNREACHABLE
    return None


def body_failure(exc: BaseException) -> tuple[int, str] | None:
    """(status, message) for a body that could not be read, from the parser's exception.

    FastAPI answers every such failure with "There was an error parsing the body" (and
    raises starlette's HTTPException, which handlers written for fastapi's miss): the
    client is told what is wrong with its bytes instead.
    """
    cause = exc.__cause__ if isinstance(exc, StarletteHTTPException) else exc
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start : cause.start + 1].hex()
        return 400, f"the request body is not valid UTF-8 (byte 0x{byte} at offset {cause.start})"
    if isinstance(cause, json.JSONDecodeError):
        return 422, f"the request body is not valid JSON: {cause.msg} at offset {cause.pos}"
    return None


# OpenAI's `type` per status; anything 5xx is a server_error.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    415: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",  # what OpenAI itself sends with code rate_limit_exceeded
}
_OPENAI_CODES = {401: "invalid_api_key", 413: "request_too_large", 429: "rate_limit_exceeded"}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"detail": message, "status_code": status}


def openai_error_body(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    return {
        "error": {
            "message": message,
            "type": _OPENAI_TYPES.get(status, default_type),
            "code": code or _OPENAI_CODES.get(status),
            "param": param,
        }
    }


def error_payload(path: str, status: int, message: str) -> dict[str, Any]:
    """The error body for a path: OpenAI's shape under /v1, ours everywhere else."""
    if path.startswith("/v1/"):
        return openai_error_body(status, message)
    return error_body(status, message)


async def send_json_error(
    send: Send, path: str, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """Answer from ASGI middleware, where no Response class or exception handler applies."""
    body = json.dumps(error_payload(path, status, message)).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def readable_errors(exc: Exception) -> list[dict[str, object]]:
    """Location and message of each error, without echoing the input.

    FastAPI's default handler echoes the offending value: a lone surrogate in it
    cannot be encoded and turns a 422 into a 500, and a pasted secret would be
    sent back into logs and proxies.
    """
    raw = exc.errors() if isinstance(exc, RequestValidationError | ValidationError) else []
    errors = [e if isinstance(e, dict) else {"msg": str(e)} for e in raw]
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "invalid value")).encode("utf-8", "replace").decode(),
            "type": error.get("type", "value_error"),
        }
        for error in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Registered per type (not for `Exception`): Starlette re-raises from a catch-all."""

    async def known_failure(request: Request, exc: Exception) -> JSONResponse:
        status, message = status_for(exc) or (500, "internal server error")
        log.warning("%s on %s: %s", status, request.url.path, type(exc).__name__)
        request.state.failure = exc  # counted by the request log's metrics
        return JSONResponse(error_body(status, message), status_code=status)

    for exc_type in KNOWN_FAILURES:
        app.add_exception_handler(exc_type, known_failure)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": readable_errors(exc)}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)
    # LangServe's /batch validates each input itself and lets pydantic's error escape.
    app.add_exception_handler(ValidationError, invalid_request)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        unreadable = body_failure(exc)
        if unreadable is None:
            return await http_exception_handler(request, exc)
        status, message = unreadable
        return JSONResponse(error_payload(request.url.path, status, message), status_code=status)

    app.add_exception_handler(StarletteHTTPException, http_error)
