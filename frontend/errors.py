"""Turn what goes wrong talking to the backend into one sentence a person can act on."""

from __future__ import annotations

import json
from typing import Any

import httpx


class BackendError(Exception):
    """A backend failure whose message is ready to show in the chat."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


_STATUS_HINTS: dict[int, str] = {
    400: "The backend rejected the request",
    401: "The backend refused the API key (set it in the sidebar or RAGCHAT_API_KEY)",
    403: "The backend does not allow this",
    404: "Not found",
    413: "The request is too large",
    422: "The backend did not accept the request",
    429: "Too many requests: wait a moment and try again",
    500: "The backend hit an internal error (see its log)",
    502: "The backend could not reach the language model",
    503: "The backend is unavailable right now",
    504: "The backend timed out",
}


def _pydantic_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "input"))
    message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def readable_detail(body: str) -> str:
    """The `detail` of a FastAPI/LangServe error body, flattened to text."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    detail = payload.get("detail", payload.get("message")) if isinstance(payload, dict) else payload
    if isinstance(detail, list):
        return "; ".join(_pydantic_item(item) for item in detail)
    if detail is None:
        return ""
    return str(detail)[:300]


def _body_text(response: httpx.Response) -> str:
    try:
        return response.text
    except httpx.ResponseNotRead:  # a streamed response closed before its body was read
        return ""


def message_for_status(status: int, body: str) -> str:
    hint = _STATUS_HINTS.get(status) or (
        "The backend rejected the request" if status < 500 else "The backend failed"
    )
    detail = readable_detail(body)
    return f"{hint} (HTTP {status}): {detail}" if detail else f"{hint} (HTTP {status})."


def to_backend_error(exc: BaseException, backend_url: str) -> BackendError:
    """Map any failure of a call to the backend onto a readable `BackendError`."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return BackendError(message_for_status(status, _body_text(exc.response)), status)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return BackendError(
            f"Cannot reach the backend at {backend_url}: is it running? "
            "Start it with `ragchat serve`, or point BACKEND_URL at it."
        )
    if isinstance(exc, httpx.TimeoutException):
        return BackendError(
            f"The backend at {backend_url} stopped answering (timed out). Try again, or ask "
            "for a shorter answer."
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return BackendError("The connection to the backend broke off. Try again.")
    if isinstance(exc, httpx.HTTPError):
        return BackendError(f"Talking to the backend failed: {exc}")
    if isinstance(exc, ValueError):  # a body that is not the JSON the contract promises
        return BackendError(f"The backend sent a response this app cannot read: {exc}")
    return BackendError(f"Unexpected error talking to the backend: {type(exc).__name__}: {exc}")
