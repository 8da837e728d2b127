"""The dependencies every API route runs first: who is calling, how often, how much."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from api.identity import ApiKeys, resolve_identity
from api.limits import langserve_body_guard
from api.middleware import note_user
from api.ratelimit import build_buckets, rate_limit_guard
from settings import Settings


@dataclass(frozen=True)
class Guards:
    rest: list[Any]  # authentication, then the rate limit
    langserve: list[Any]  # the same, then checks of LangServe's own body fields


def build_guards(settings: Settings, keys: ApiKeys) -> Guards:
    async def authenticate(request: Request) -> None:
        request.state.user = resolve_identity(request, keys)
        note_user(request.state.user)

    rest = [Depends(authenticate), Depends(rate_limit_guard(build_buckets(settings)))]
    return Guards(rest, [*rest, Depends(langserve_body_guard(settings.max_batch_size))])
