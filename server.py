"""The ragchat HTTP server: the app factory. Routes live in `api/`, the graph in `graph/`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.identity import ApiKeys
from api.limits import BodySizeLimit
from api.main import include_routes
from api.middleware import ConcurrencyLimit, RequestLog
from api.openapi import document_error_statuses
from api.routes.health import LLMStatus
from chains.documents.service import Documents
from chains.documents.worker import JobWorker
from graph.resources import Resources
from settings import Settings, get_settings

log = logging.getLogger("ragchat.server")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def lifespan_for(
    resources: Resources, keys: ApiKeys, llm: LLMStatus, documents: Documents
) -> Lifespan:
    """Load the LLM and start the job workers (the server still answers /health if either
    fails); stop and close at exit."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources.settings.data_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            "auth is %s",
            "on (API keys)"
            if keys.enabled
            else "off: the body's username identifies the user; set API_KEYS to require keys",
        )
        try:
            await asyncio.to_thread(resources.chat_model)
            llm.loaded = True
        except Exception as exc:  # noqa: BLE001 - the server still serves /health and errors
            llm.error = str(exc)
            log.error("LLM not loaded: %s", exc)
        worker = await asyncio.to_thread(start_workers, resources.settings, documents)
        yield
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        await resources.aclose()

    return lifespan


def start_workers(settings: Settings, documents: Documents) -> JobWorker | None:
    """`DOCUMENT_WORKERS` ingest threads in this process; uploads wait if they cannot start."""
    if settings.document_workers == 0:
        return None
    try:
        worker = JobWorker(settings, documents.queue, documents.jobs, store=documents.store)
        worker.start(settings.document_workers)
    except Exception as exc:  # noqa: BLE001 - chat keeps working without uploads
        log.error("document workers not started: %s", exc)
        return None
    return worker


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or get_settings()
    resources = resources or Resources(settings=settings)
    keys = ApiKeys.from_settings(settings)
    llm = LLMStatus()
    documents = Documents(settings)
    app = FastAPI(
        title="ragchat",
        version="0.1.0",
        description="Streaming chat over your own documents (LangServe + LangGraph).",
        lifespan=lifespan_for(resources, keys, llm, documents),
    )
    # Starlette runs the last added outermost: log ← concurrency cap ← body size ← app.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        uploads={"/documents": settings.max_upload_request_bytes},
    )
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(RequestLog)
    app.state.resources = resources
    app.state.documents = documents
    install_error_handlers(app)
    include_routes(app, settings, resources, keys, llm, documents)
    document_error_statuses(app)
    return app
