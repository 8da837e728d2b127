"""REST routes over the document index."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from graph.resources import Resources


def index_router(resources: Resources, dependencies: list[Any]) -> APIRouter:
    router = APIRouter(dependencies=dependencies, tags=["index"])

    @router.get("/index/stats")
    async def index_stats() -> dict[str, Any]:
        """Chunk counts per metadata value, for filter pickers."""
        stats = await resources.index_stats()
        # Only what a client needs: never the server's paths.
        return {
            "total_chunks": stats.get("chunks", 0),
            "sources": stats.get("sources", 0),
            "metadata": {
                key: column.get("values", {}) for key, column in stats.get("metadata", {}).items()
            },
        }

    return router
