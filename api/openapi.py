"""Every status an operation can answer, written into the OpenAPI document.

FastAPI documents a route's success and its 422; the layers around the route answer more
(the body limits, the content-type and body checks, the rate limit, authentication, the
concurrency cap, a dependency that is down). Clients and schemathesis's
`status_code_conformance` check read them here, so they are derived from those layers
by rule, plus the few a route raises itself, listed below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA = "ErrorBody"
OPENAI_ERROR_SCHEMA = "OpenAIErrorBody"
_SCHEMAS: dict[str, dict[str, Any]] = {
    ERROR_SCHEMA: {
        "title": ERROR_SCHEMA,
        "type": "object",
        "properties": {
            "detail": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]
            },
            "status_code": {"type": "integer"},
        },
        "required": ["detail"],
    },
    OPENAI_ERROR_SCHEMA: {
        "title": OPENAI_ERROR_SCHEMA,
        "type": "object",
        "properties": {"error": {"type": "object"}},
        "required": ["error"],
    },
}

# Answered before any route runs, or by routes that only report.
_NOT_LIMITED = frozenset({"/", "/health", "/ready", "/metrics"})
_SIGN_IN = frozenset({"/login", "/logout"})  # rate-limited, but open to anyone
_STAGE_RUN = re.compile(r"^/(?!retrieve/)[a-z_]+/(invoke|batch|stream|stream_events|stream_log)$")
# The Agent Protocol (api/agent_protocol): a run on a thread or stateless, and what names one.
_AGENT_RUN = re.compile(r"^(/threads/\{thread_id\})?/runs/(stream|wait)$")
_AGENT_NAMED = {
    "{thread_id}": "no such thread for this user",
    "{assistant_id}": "no such assistant (one per stage graph)",
    "{run_id}": "no such run on this thread",
}

_BY_BODY = {
    400: "the body cannot be read: not UTF-8, or a malformed multipart body",
    413: "the body is over MAX_BODY_BYTES (MAX_UPLOAD_REQUEST_BYTES for uploads), or a batch "
    "is over MAX_BATCH_SIZE",
    415: "a content type this route does not take",
    422: "the body is not what the route takes (empty, not an object, invalid fields)",
}
_LLM = {
    502: "the LLM endpoint could not be reached",
    504: "the LLM did not answer within LLM_TIMEOUT_SECONDS",
}

# What routes raise themselves: (method, path) → {status: description}.
ROUTE_ERRORS: dict[tuple[str, str], dict[int, str]] = {
    ("GET", "/login"): {404: "API keys are off: no sign-in needed"},
    ("POST", "/login"): {
        303: "signed in: on to `next`",
        401: "the key is not valid",
        404: "API keys are off: no sign-in needed",
    },
    ("GET", "/metrics"): {401: "missing or invalid API key", 403: "not one of METRICS_USERS"},
    ("POST", "/feedback"): {404: "no such message in this user's sessions"},
    ("GET", "/sessions/{session_id}/messages"): {404: "no such session for this user"},
    ("DELETE", "/sessions/{session_id}"): {404: "no such session for this user"},
    ("POST", "/documents"): {
        403: "not one of DOCUMENT_ADMINS",
        429: "the ingest queue is full",
    },
    ("DELETE", "/documents/{source}"): {403: "not one of DOCUMENT_ADMINS", 404: "no such document"},
    ("GET", "/jobs/{job_id}"): {404: "no such job"},
    ("DELETE", "/jobs/{job_id}"): {
        403: "not one of DOCUMENT_ADMINS",
        404: "no such job",
        409: "the job has ended",
    },
    ("GET", "/v1/models/{model_id}"): {404: "unknown model"},
    ("POST", "/v1/chat/completions"): {400: "invalid or unsupported request", 404: "unknown model"},
    ("POST", "/threads"): {409: "a thread with this id exists (if_exists: raise)"},
}


def statuses_for(method: str, path: str, operation: dict[str, Any]) -> dict[int, str]:
    """The error statuses of one operation, with what each means."""
    found: dict[int, str] = {}
    if path != "/health":
        found[503] = "busy (MAX_CONCURRENT_REQUESTS), or a dependency it needs is down"
    if "requestBody" in operation:
        found |= _BY_BODY
    if path not in _NOT_LIMITED:
        found[429] = "rate limit exceeded (RATE_LIMIT_PER_MINUTE)"
        if path not in _SIGN_IN:
            found[401] = "missing or invalid API key (when API_KEYS is set)"
    if method == "POST" and (_STAGE_RUN.match(path) or path == "/v1/chat/completions"):
        found |= _LLM
    if _AGENT_RUN.match(path):
        found[404] = "no such assistant, or no such thread for this user"
        found |= _LLM
        if path.startswith("/threads/"):
            found[409] = "the thread has a run in progress (multitask_strategy reject)"
    for marker, description in _AGENT_NAMED.items():
        if marker in path:
            found.setdefault(404, description)
    found |= ROUTE_ERRORS.get((method, path), {})
    return found


def _response(path: str, status: int, description: str) -> dict[str, Any]:
    if status < 400:
        return {"description": description}
    schema = OPENAI_ERROR_SCHEMA if path.startswith("/v1/") else ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def add_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Document every operation's error statuses; ones a route documents itself are kept."""
    document.setdefault("components", {}).setdefault("schemas", {}).update(_SCHEMAS)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, description in statuses_for(method.upper(), path, operation).items():
                responses.setdefault(str(status), _response(path, status, description))
    return document


def document_error_statuses(app: FastAPI) -> None:
    """Make `app.openapi()` include them (built once, on the first request for it)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
