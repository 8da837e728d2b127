"""The dependencies every API route runs first: who is calling, how often, how much."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.identity import ApiKeys, resolve_identity
from api.limits import langserve_body_guard
from api.middleware import note_user
from api.ratelimit import build_buckets, rate_limit_guard
from settings import Settings


@dataclass(frozen=True)
class Guards:
    anonymous: list[Any]  # the rate limit alone (the sign-in form)
    rest: list[Any]  # authentication, then the rate limit
    langserve: list[Any]  # the same, then checks of LangServe's own body fields


def build_guards(settings: Settings, keys: ApiKeys) -> Guards:
    async def authenticate(request: Request) -> None:
        request.state.user = resolve_identity(request, keys)
        note_user(request.state.user)

    limit = Depends(rate_limit_guard(build_buckets(settings)))
    rest = [Depends(authenticate), limit]
    return Guards([limit], rest, [*rest, Depends(langserve_body_guard(settings.max_batch_size))])


def validated_input(model: type[BaseModel]) -> Any:
    """Refuse with 422 an input the route's model refuses, before any readiness check.

    LangServe validates inside its handler, after every dependency: a malformed filter
    then answered 503 while the index was missing and 422 once it existed. A request that
    is wrong is the client's to fix, whatever state the server is in.
    """

    async def check(request: Request) -> None:
        if request.method != "POST":
            return
        payload = await request.json()  # the body guard has checked it is a JSON object
        batch = request.url.path.endswith("/batch")
        items = payload.get("inputs") if batch else [payload.get("input")]
        errors: list[Any] = []
        for index, item in enumerate(items or []):
            try:
                model.model_validate(item)
            except ValidationError as exc:
                where = ("inputs", index) if batch else ("input",)
                errors += [{**error, "loc": (*where, *error["loc"])} for error in exc.errors()]
        if errors:
            raise RequestValidationError(errors)

    return Depends(check)
