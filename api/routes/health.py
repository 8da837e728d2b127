"""Liveness (`/health`), readiness (`/ready`) and the metrics (`/metrics`).

A load balancer routes by `/ready` (503 while a dependency is down); a supervisor restarts
by `/health` (the process answers). docs/operations.md has the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from api import metrics
from api.identity import ApiKeys, resolve_identity
from api.readiness import Readiness
from chains.llm.llama_build import loaded_build
from chains.models.presets import llm_model
from graph.resources import Resources
from settings import Settings


@dataclass
class LLMStatus:
    """Filled in by the lifespan once it tried to load the model."""

    loaded: bool = False
    error: str | None = None


def model_label(settings: Settings) -> str:
    """The model's name for clients: a file name, never the server's path to it."""
    model = llm_model(settings)
    return Path(model).name if settings.llm_provider == "local" else model


def health_router(
    settings: Settings, llm: LLMStatus, keys: ApiKeys, resources: Resources
) -> APIRouter:
    router = APIRouter()
    auth_enabled = keys.enabled
    readiness = Readiness(
        resources, lambda: None if llm.loaded else (llm.error or "the model is still loading")
    )
    metrics_users = {u.strip() for u in settings.metrics_users.split(",") if u.strip()}

    @router.get("/")
    async def hello() -> dict[str, str]:
        return {"Hello": "World!"}

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok" if llm.loaded else "degraded",
            "llm": {
                "provider": settings.llm_provider,
                "model": model_label(settings),
                "loaded": llm.loaded,
                "error": llm.error,
                "llama_cpp": loaded_build() if settings.llm_provider == "local" else None,
            },
            "auth": auth_enabled,
        }

    @router.get("/ready")
    async def ready() -> JSONResponse:
        checks = await readiness.check()
        down = [name for name, check in checks.items() if not check.ok]
        body = {
            "status": "ready" if not down else "not ready: " + ", ".join(down) + " down",
            "checks": {name: check.as_dict() for name, check in checks.items()},
        }
        return JSONResponse(body, status_code=503 if down else 200)

    @router.get("/metrics", response_class=Response)
    async def prometheus_metrics(request: Request) -> Response:
        if keys.enabled:
            user = resolve_identity(request, keys)
            if user not in metrics_users:
                raise HTTPException(
                    403, "metrics are readable by the users METRICS_USERS names, not by you"
                )
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)

    return router
