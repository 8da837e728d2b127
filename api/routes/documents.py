"""REST routes for documents added through the API, and for their ingest jobs.

Uploads and deletes need a `DOCUMENT_ADMINS` user when API keys are on; listing and
`/retrieve` stay open to every user. Without keys (local use) everyone may do everything.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.body import MULTIPART, form_body
from chains.documents.jobs import STATES, JobFinished, JobNotFound
from chains.documents.service import Documents, QueueFull, Upload
from chains.documents.uploads import UploadRefused, typed_metadata
from chains.index.backend import IndexUnavailable
from chains.index.filters import FilterError, validate_filter
from settings import Settings

log = logging.getLogger("ragchat.documents")
DOCUMENTS_UNAVAILABLE = "the documents database is unavailable; try again shortly"


def document_admin(settings: Settings) -> Any:
    """A route dependency: with API keys on, only DOCUMENT_ADMINS may change documents."""
    admins = settings.document_admin_names

    async def check(request: Request) -> None:
        user = getattr(request.state, "user", None)
        if user is not None and user not in admins:
            raise HTTPException(
                403,
                f"user {user!r} may not add or delete documents; ask for DOCUMENT_ADMINS",
            )

    return Depends(check)


async def _run(documents: Documents, function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await documents.run(function, *args, **kwargs)
    except SQLAlchemyError as exc:
        log.error("documents database: %s", exc)
        raise HTTPException(503, DOCUMENTS_UNAVAILABLE) from None


def _filter(raw: str | None, settings: Settings) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
        return validate_filter(
            parsed, max_depth=settings.max_filter_depth, max_nodes=settings.max_filter_nodes
        )
    except (ValueError, FilterError) as exc:
        raise HTTPException(422, f"filter: {exc}") from None


def documents_router(
    settings: Settings, documents: Documents, dependencies: list[Any]
) -> APIRouter:
    router = APIRouter(dependencies=dependencies, tags=["documents"])
    admin = document_admin(settings)

    @router.post("/documents", status_code=202, dependencies=[form_body(MULTIPART), admin])
    async def upload_documents(
        request: Request,
        files: Annotated[
            list[UploadFile], File(description="one or more .md .txt .rst .html .pdf")
        ],
        metadata: Annotated[
            str | None, Form(description='JSON object, e.g. {"team": "docs", "year": "2024"}')
        ] = None,
        username: Annotated[str | None, Form(description="who adds them, without API keys")] = None,
    ) -> dict[str, Any]:
        """Queue one ingest job per file; poll `GET /jobs/{id}` for progress."""
        try:
            meta = typed_metadata(json.loads(metadata) if metadata else None)
        except ValueError as exc:
            status = exc.status if isinstance(exc, UploadRefused) else 422
            raise HTTPException(status, f"metadata: {exc}") from None
        # Sizes, names and types are checked in one place (Documents.check); the request
        # as a whole is already capped by MAX_UPLOAD_REQUEST_BYTES.
        uploads = [Upload(file.filename, await file.read()) for file in files]
        owner = getattr(request.state, "user", None) or (username or "").strip()[:128] or None
        try:
            jobs = await _run(documents, documents.submit, uploads, meta, owner)
        except UploadRefused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        except QueueFull as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": "30"}) from None
        return {"jobs": [job.as_json() for job in jobs]}

    @router.get("/jobs")
    async def list_jobs(
        state: Annotated[
            str | None, Query(description="queued, running, done, failed or cancelled")
        ] = None,
        ids: Annotated[
            str | None,
            Query(description="only these jobs (comma-separated): one poll for many uploads"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """The newest jobs first."""
        states = tuple(s.strip() for s in state.split(",") if s.strip()) if state else None
        unknown = sorted(set(states or ()) - set(STATES))
        if unknown:
            raise HTTPException(
                422, f"unknown job state {unknown[0][:40]!r}: use one of {', '.join(STATES)}"
            )
        wanted = tuple(i.strip() for i in ids.split(",") if i.strip())[:500] if ids else None
        jobs = await _run(documents, documents.jobs.list, states=states, ids=wanted, limit=limit)
        return {"jobs": [job.as_json() for job in jobs]}

    @router.get("/jobs/{job_id}")
    async def get_job(job_id: str) -> dict[str, Any]:
        """State, chunks done of chunks in all, and the error of a failed job."""
        try:
            job = await _run(documents, documents.jobs.get, job_id)
        except JobNotFound:
            raise HTTPException(404, f"no job {job_id[:64]!r}") from None
        return job.as_json()

    @router.delete("/jobs/{job_id}", dependencies=[admin])
    async def cancel_job(job_id: str) -> JSONResponse:
        """Cancel: a queued job ends at once (200), a running one at its next step (202)."""
        try:
            job = await _run(documents, documents.jobs.cancel, job_id)
        except JobNotFound:
            raise HTTPException(404, f"no job {job_id[:64]!r}") from None
        except JobFinished as exc:
            raise HTTPException(409, str(exc)) from None
        return JSONResponse(job.as_json(), status_code=202 if job.state == "running" else 200)

    @router.get("/documents")
    async def list_documents(
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        filter: Annotated[
            str | None, Query(description="metadata filter as JSON, as /retrieve takes it")
        ] = None,
    ) -> dict[str, Any]:
        """Documents in the index, newest first: source, title, chunks, metadata, who, when."""
        where = _filter(filter, settings)
        entries, total = await _run(documents, documents.page, offset, limit, where)
        return {
            "documents": [e.as_json() for e in entries],
            "total": total,
            "offset": offset,
            "limit": limit,
        }

    @router.delete("/documents/{source:path}", dependencies=[admin])
    async def delete_document(source: str) -> dict[str, Any]:
        """Remove every chunk of `source` from the index and the list."""
        try:
            listed = await _run(documents, documents.catalog.get, source)
            removed = await _run(documents, documents.delete, source)
        except IndexUnavailable as exc:
            raise HTTPException(503, f"the document index is unavailable: {exc}") from None
        if not removed and listed is None:
            raise HTTPException(404, f"no document {source[:200]!r}")
        return {"source": source, "chunks_removed": removed}

    return router
