"""Liveness: is the process up, did the LLM load, is auth on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from settings import Settings


@dataclass
class LLMStatus:
    """Filled in by the lifespan once it tried to load the model."""

    loaded: bool = False
    error: str | None = None


def model_label(settings: Settings) -> str:
    """The model's name for clients: a file name, never the server's path to it."""
    model = settings.resolved_llm_model
    return Path(model).name if settings.llm_provider == "local" else model


def health_router(settings: Settings, llm: LLMStatus, auth_enabled: bool) -> APIRouter:
    router = APIRouter()

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
            },
            "auth": auth_enabled,
        }

    return router
