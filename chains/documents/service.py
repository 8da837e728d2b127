"""What the document routes do: validate uploads into jobs, list, delete. No HTTP here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chains.documents.catalog import DocumentCatalog, DocumentEntry
from chains.documents.jobs import Job, JobStore, new_job_id
from chains.documents.queue import JobQueue
from chains.documents.uploads import (
    UploadRefused,
    check_content,
    discard_upload,
    document_name,
    store_upload,
)
from chains.documents.worker import lazy_store
from chains.ingest.pipeline import delete_source

if TYPE_CHECKING:
    from collections.abc import Callable

    from chains.index.backend import ChunkStore
    from settings import Settings


class QueueFull(RuntimeError):
    """More jobs queued or running than `MAX_QUEUED_JOBS`; the client should retry later."""


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes


@dataclass
class Documents:
    """Catalog, jobs and queue of one deployment; built on first use (no I/O at import)."""

    settings: Settings
    _jobs: JobStore | None = field(default=None, repr=False)
    _catalog: DocumentCatalog | None = field(default=None, repr=False)
    _queue: JobQueue | None = field(default=None, repr=False)
    _store: Callable[[], ChunkStore] | None = field(default=None, repr=False)

    @property
    def jobs(self) -> JobStore:
        if self._jobs is None:
            self._jobs = JobStore.from_url(self.settings.resolved_database_url)
        return self._jobs

    @property
    def catalog(self) -> DocumentCatalog:
        if self._catalog is None:
            self._catalog = DocumentCatalog.from_url(self.settings.resolved_database_url)
        return self._catalog

    @property
    def queue(self) -> JobQueue:
        if self._queue is None:
            self._queue = JobQueue.from_settings(self.settings)
        return self._queue

    def store(self) -> ChunkStore:
        """The one writable index of this process: the job workers and deletes share it."""
        if self._store is None:
            self._store = lazy_store(self.settings)
        return self._store()

    def delete(self, source: str) -> int:
        """Every chunk of `source` out of the index, then out of the list; how many."""
        return delete_source(self.settings, source, store=self.store())

    def check(self, uploads: list[Upload]) -> list[str]:
        """Every file's source name, or UploadRefused for the first one that cannot go in.

        All or nothing: a request with one bad file queues none, so a client never has to
        work out which half of its upload went through.
        """
        if not uploads:
            raise UploadRefused(422, "no files: send one or more in the `files` field")
        limit = self.settings.max_files_per_upload
        if len(uploads) > limit:
            raise UploadRefused(413, f"{len(uploads)} files; at most {limit} per request")
        names: list[str] = []
        for upload in uploads:
            name = document_name(upload.filename)
            if len(upload.data) > self.settings.max_upload_bytes:
                raise UploadRefused(
                    413,
                    f"{name} is {len(upload.data)} bytes; the limit is "
                    f"{self.settings.max_upload_bytes} per file (MAX_UPLOAD_BYTES)",
                )
            if name in names:
                raise UploadRefused(422, f"{name} is in this upload twice")
            check_content(name, upload.data)
            names.append(name)
        return names

    def submit(self, uploads: list[Upload], meta: dict[str, Any], owner: str | None) -> list[Job]:
        """Keep the files under DATA_DIR and queue one job per file."""
        names = self.check(uploads)
        data_dir = self.settings.data_dir
        rows = []
        for name, upload in zip(names, uploads, strict=True):
            job_id = new_job_id()
            file = store_upload(data_dir, job_id, name, upload.data)
            rows.append({"id": job_id, "source": name, "owner": owner, "file": file, "meta": meta})
        try:
            accepted = self.jobs.create(rows, max_active=self.settings.max_queued_jobs)
        except Exception:
            for row in rows:
                discard_upload(data_dir, row["file"])
            raise
        if not accepted:
            for row in rows:
                discard_upload(data_dir, row["file"])
            raise QueueFull(
                f"the ingest queue is full ({self.settings.max_queued_jobs} jobs, "
                "MAX_QUEUED_JOBS); try again when some have finished"
            )
        for row in rows:
            try:
                self.queue.send(row["id"])
            except Exception as exc:
                self.jobs.mark_failed(row["id"], f"the job queue is unavailable ({exc})")
                discard_upload(data_dir, row["file"])
                raise
        return [self.jobs.get(row["id"]) for row in rows]

    def page(
        self, offset: int, limit: int, filter: dict[str, Any] | None
    ) -> tuple[list[DocumentEntry], int]:
        return self.catalog.page(offset=offset, limit=limit, filter=filter)

    async def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Blocking database work off the event loop."""
        return await asyncio.to_thread(function, *args, **kwargs)
