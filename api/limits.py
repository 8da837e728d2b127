"""Request-size limits Starlette and LangServe do not enforce themselves."""

from __future__ import annotations

import json

from fastapi import HTTPException, Request, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.body import check_json_media
from api.errors import body_failure, send_json_error


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with 413, whether declared or streamed.

    Starlette reads any body into memory without a cap; checking Content-Length
    alone would let a chunked upload through.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads or {}  # POST paths that take files, with their own limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "POST" and scope["path"] in self.uploads
        limit = self.uploads[scope["path"]] if upload else self.max_bytes
        setting = "MAX_UPLOAD_REQUEST_BYTES" if upload else "MAX_BODY_BYTES"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, scope["path"], limit, setting)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(send, scope["path"], limit, setting)

    async def _refuse(self, send: Send, path: str, limit: int, setting: str) -> None:
        message = f"request body over the limit of {limit} bytes ({setting})"
        await send_json_error(send, path, 413, message)


def _kind(value: object) -> str:
    """A JSON value's kind in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {list: "an array", str: "a string"}.get(type(value), "a number")


class BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes the limit."""


def langserve_body_guard(max_batch: int):  # type: ignore[no-untyped-def]
    """A route dependency: refuse what LangServe 0.3 turns into a 500.

    Found by schemathesis: a body that is not UTF-8 JSON, `"config": null`,
    `"inputs": null` and a non-object `kwargs` all raise inside LangServe's
    handlers; and its /batch takes any number of inputs.
    """

    async def check(request: Request) -> None:
        if request.method != "POST":
            return
        check_json_media(request)
        raw = await request.body()
        if not raw.strip():
            raise HTTPException(422, "the request body is empty: send a JSON object")
        try:
            payload = json.loads(raw.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            status_code, message = body_failure(exc) or (422, "the request body is not JSON")
            raise HTTPException(status_code, message) from None
        if not isinstance(payload, dict):
            raise HTTPException(
                422, f"the request body must be a JSON object, not {_kind(payload)}"
            )
        is_batch = request.url.path.endswith("/batch")
        config = payload.get("config", {})
        allowed_config = (dict, list) if is_batch else (dict,)
        if not isinstance(config, allowed_config):
            raise HTTPException(422, "config must be an object")
        if not isinstance(payload.get("kwargs", {}), dict):
            raise HTTPException(422, "kwargs must be an object")
        if is_batch:
            inputs = payload.get("inputs")
            if not isinstance(inputs, list):
                raise HTTPException(422, "inputs must be a list")
            if len(inputs) > max_batch:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"batch of {len(inputs)} inputs; the limit is {max_batch} (MAX_BATCH_SIZE)",
                )

    return check
