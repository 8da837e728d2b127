"""What a request body must be before a route validates it, each refusal naming the problem.

One rule per kind of route: a JSON route takes `application/json` (or `+json`, or no
content type at all, as curl sends), a form route takes the form types it declares.
Anything else is a 415 that says which type to send, rather than the 422 "Input should
be a valid dictionary" a form body meets in a JSON model. Bytes that are not UTF-8 are
described by `api.errors.body_failure`, where FastAPI's parse error is mapped.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException, Request, status

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_WITH_BODY = ("POST", "PUT", "PATCH")


def media_type(request: Request) -> str:
    """The content type without parameters, lower case; '' when none was sent."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


def refuse_media(media: str, wanted: str) -> HTTPException:
    sent = repr(media) if media else "none"
    return HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"this route takes {wanted}; the request's Content-Type is {sent}",
    )


def check_json_media(request: Request) -> None:
    """415 unless the body is declared JSON (or not declared at all)."""
    media = media_type(request)
    if media and not is_json(media):
        raise refuse_media(media, f"a JSON body (Content-Type: {JSON})")


def json_body() -> Any:
    """A route dependency for routes whose body is a JSON object."""

    async def check(request: Request) -> None:
        if request.method not in _WITH_BODY:
            return
        check_json_media(request)
        if not (await request.body()).strip():  # FastAPI has read it already: cached
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "the request body is empty: send a JSON object",
            )

    return Depends(check)


def form_body(*types: str) -> Any:
    """A route dependency for routes that take a form of one of `types`.

    Only the header is checked: FastAPI has streamed the body into its form parser.
    """
    wanted = " or ".join(f"Content-Type: {t}" for t in types)

    async def check(request: Request) -> None:
        if request.method not in _WITH_BODY:
            return
        media = media_type(request)
        if media not in types:
            raise refuse_media(media, f"a form ({wanted})")

    return Depends(check)
