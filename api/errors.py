"""Exceptions raised inside ragchat, mapped to HTTP status codes in this one place."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from chains.llm import LLMTimeout, LLMUnavailable
from graph.context import MissingIdentity

log = logging.getLogger("ragchat.errors")


def _status_for(exc: BaseException) -> tuple[int, str] | None:
    """(status, message) for a known failure, None for anything else."""
    from chains.history import DatabaseUnavailable, MessageNotFound, SessionNotFound

    if isinstance(exc, SessionNotFound | MessageNotFound):
        return 404, str(exc)
    if isinstance(exc, DatabaseUnavailable):
        # The detail (host, driver reason) goes to the log, not to clients.
        log.error("history database unavailable: %s", exc)
        return 503, "the chat history database is unavailable; try again shortly"
    if isinstance(exc, LLMUnavailable):
        return 503, f"the LLM is unavailable ({exc})"
    if isinstance(exc, LLMTimeout):
        return 504, str(exc)
    if isinstance(exc, MissingIdentity):
        return 422, str(exc)
    try:
        from chains.retrieval import IndexUnavailable
    except ImportError:  # retrieval extras not installed
        IndexUnavailable = ()  # type: ignore[assignment,misc]  # noqa: N806
    if IndexUnavailable and isinstance(exc, IndexUnavailable):
        return 503, f"the document index is unavailable: {exc}"
    if _is_connection_error(exc):
        return 502, "the LLM endpoint could not be reached (provider: endpoint/huggingface)"
    return None


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    try:
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # pragma: no cover
        HfHubHTTPError = ()  # type: ignore[assignment,misc]  # noqa: N806
    return isinstance(exc, httpx.TransportError | ConnectionError) or (
        bool(HfHubHTTPError) and isinstance(exc, HfHubHTTPError)
    )


def error_body(status: int, message: str) -> dict[str, object]:
    return {"detail": message, "status_code": status}


def error_payload(path: str, status: int, message: str) -> dict[str, object]:
    """The error body for a path: OpenAI's shape under /v1, ours everywhere else."""
    if path.startswith("/v1/"):
        from api.openai_errors import openai_error_body

        return openai_error_body(status, message)
    return error_body(status, message)


def _known_exception_types() -> list[type[BaseException]]:
    import httpx

    from chains.history import HistoryError
    from chains.retrieval import IndexUnavailable

    types: list[type[BaseException]] = [
        HistoryError,
        IndexUnavailable,
        LLMUnavailable,
        LLMTimeout,
        MissingIdentity,
        httpx.TransportError,
        ConnectionError,
    ]
    try:
        from huggingface_hub.errors import HfHubHTTPError

        types.append(HfHubHTTPError)
    except ImportError:  # pragma: no cover
        pass
    return types


def install_error_handlers(app: FastAPI) -> None:
    """Registered per type (not for `Exception`): Starlette re-raises from a catch-all."""

    async def known_failure(request: Request, exc: Exception) -> JSONResponse:
        status, message = _status_for(exc) or (500, "internal server error")
        log.warning("%s on %s: %s", status, request.url.path, type(exc).__name__)
        return JSONResponse(error_body(status, message), status_code=status)

    for exc_type in _known_exception_types():
        app.add_exception_handler(exc_type, known_failure)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": readable_errors(exc)}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)
    # LangServe's /batch validates each input itself and lets pydantic's error escape.
    app.add_exception_handler(ValidationError, invalid_request)


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
