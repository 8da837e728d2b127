"""Who is calling: the one place identity is resolved.

With API keys configured, the bearer key (or, in a browser, the key kept by `/login` in
a cookie) decides the user; otherwise (the local default) the request body's `username`
does. Either way the graph reads the user
from `config["configurable"]["user_id"]`, which only the server writes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, status

from settings import Settings

KEY_COOKIE = "ragchat_key"


class KeyFileError(RuntimeError):
    """The API key file could not be read or has a malformed line."""


def _parse_pairs(lines: list[str], origin: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, key = line.partition(":")
        if not sep or not user.strip() or not key.strip():
            # Never echo the line: it holds a secret.
            raise KeyFileError(f"{origin}: entry {number} is not of the form user:key")
        keys[key.strip()] = user.strip()
    return keys


@dataclass(frozen=True)
class ApiKeys:
    """Key → user, compared in constant time."""

    by_key: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        keys: dict[str, str] = {}
        if settings.api_keys is not None:
            entries = settings.api_keys.get_secret_value().split(",")
            keys.update(_parse_pairs(entries, "API_KEYS"))
        if settings.api_keys_file is not None:
            try:
                lines = settings.api_keys_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise KeyFileError(f"API_KEYS_FILE cannot be read ({exc.strerror})") from None
            keys.update(_parse_pairs(lines, "API_KEYS_FILE"))
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return bool(self.by_key)

    def user_for(self, presented: str) -> str | None:
        found = None
        for key, user in self.by_key.items():
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = user
        return found


def bearer_token(request: Request) -> str | None:
    """The key of `Authorization: Bearer <key>`, or of `X-Api-Key: <key>`.

    LangGraph's clients (`langgraph_sdk`, `RemoteGraph`, agent-chat-ui) send their key
    as `x-api-key` and refuse to set that header any other way.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key", "").strip() or None


def wants_a_page(request: Request) -> bool:
    """A browser opening the playground: sent to /login rather than shown a 401 body."""
    return request.method == "GET" and "/playground" in request.url.path


def resolve_identity(request: Request, keys: ApiKeys) -> str | None:
    """The authenticated user, or None when auth is off (the body's username applies)."""
    if not keys.enabled:
        return None
    token = bearer_token(request) or request.cookies.get(KEY_COOKIE) or None
    user = None if token is None else keys.user_for(token)
    if user is not None:
        return user
    if wants_a_page(request):
        raise HTTPException(
            status.HTTP_303_SEE_OTHER,
            "sign in first",
            headers={"Location": f"/login?next={quote(request.url.path)}"},
        )
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing API key: send 'Authorization: Bearer <key>' (or 'X-Api-Key: <key>')"
        if token is None
        else "invalid API key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def server_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """LangServe's per-request modifier: replace, never merge, the server-owned fields.

    LangServe lets a client send any `configurable` key; this runs last and
    rebuilds `configurable` from the server's identity only, so a client-sent
    `user_id` (or anything else) never reaches the graph. `client` is the caller's
    address: anonymous callers take their turns at the model by it.
    """
    config = dict(config)
    config["configurable"] = {
        "user_id": getattr(request.state, "user", None),
        "client": client_address(request),
    }
    return config


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def acting_user(request: Request, username: str | None) -> str:
    """The user a REST call acts for: the key's user when auth is on, else `username`."""
    from chains.history import validate_username

    authenticated = getattr(request.state, "user", None)
    if authenticated is not None:
        return str(authenticated)
    if username is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "username is required")
    try:
        return validate_username(username)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


USER_HEADER = "X-Ragchat-User"
ANONYMOUS_USER = "anonymous"


def client_user(request: Request) -> str:
    """The user an Agent Protocol call acts for: the key's user when auth is on.

    With auth off, the `X-Ragchat-User` header names the user (what `username` does on
    the other routes: LangGraph's requests have no body field for it, and GETs no body),
    else every call is `anonymous`, so agent-chat-ui and Studio work without setup.
    """
    from chains.history import validate_username

    authenticated = getattr(request.state, "user", None)
    if authenticated is not None:
        return str(authenticated)
    named = request.headers.get(USER_HEADER)
    if named is None:
        return ANONYMOUS_USER
    try:
        return validate_username(named)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
