"""Refusals under `/v1` in OpenAI's shape, raised by its handlers and translated by its route.

Which failure gets which status is decided once, in `api.errors.status_for`; this module
only re-dresses it (OpenAI answers 400 where we answer 422).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api.errors import body_failure, openai_error_body, status_for
from api.limits import BodyTooLarge

log = logging.getLogger("ragchat.openai")


class OpenAIError(Exception):
    """A request refused the way OpenAI refuses it; raised by the `/v1` handlers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers

    def response(self) -> JSONResponse:
        body = openai_error_body(self.status, self.message, code=self.code, param=self.param)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _validation_error(exc: RequestValidationError) -> OpenAIError:
    """OpenAI answers 400 with the offending parameter, not 422 with a list."""
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(loc) or None
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return OpenAIError(400, "the request body is not valid JSON")
    return OpenAIError(400, f"{param}: {message}" if param else message, param=param)


def as_openai_error(exc: BaseException) -> OpenAIError:
    """The OpenAI-shaped equivalent of any failure; unknown ones become a bare 500."""
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc)
    unreadable = body_failure(exc)
    if unreadable is not None:
        return OpenAIError(400, unreadable[1])
    # starlette's class: FastAPI raises it for a body it cannot parse, fastapi's subclasses it.
    if isinstance(exc, HTTPException):
        status = 400 if exc.status_code == 422 else exc.status_code
        return OpenAIError(status, str(exc.detail), headers=exc.headers)
    known = status_for(exc)
    if known is not None:
        status, message = known
        return OpenAIError(400 if status == 422 else status, message)
    return OpenAIError(500, "internal server error")


class OpenAIRoute(APIRoute):
    """Translate everything a `/v1` handler or its dependencies raise into OpenAI's shape.

    A router-local route class, because FastAPI's exception handlers are app-wide and
    the other routes keep the server's own error shape.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                if isinstance(exc.__cause__, BodyTooLarge):
                    # A streamed body over MAX_BODY_BYTES: the size middleware answers 413.
                    raise exc.__cause__ from None
                error = as_openai_error(exc)
                if error.status >= 500 and status_for(exc) is None:
                    log.exception("unexpected failure on %s", request.url.path)
                else:
                    log.warning("%s on %s: %s", error.status, request.url.path, error.message)
                return error.response()

        return translated
