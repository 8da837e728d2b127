"""Job workers: threads that take job ids from the queue and ingest each upload.

A server starts `DOCUMENT_WORKERS` of them beside the API (`ragchat worker` runs them
alone). Each running job keeps a lease alive from a heartbeat thread; that thread also
notices a client's cancel. Every few seconds a worker puts back the jobs whose workers
died, so a job interrupted by a crash is picked up again (by any worker, on any host).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from chains.documents.jobs import JobStore
from chains.documents.queue import JobQueue
from chains.documents.uploads import discard_upload
from chains.ingest import IngestCancelled, IngestHooks, ingest_files, open_store
from chains.loaders import SourceFile

if TYPE_CHECKING:
    from chains.index.backend import ChunkStore
    from settings import Settings

log = logging.getLogger("ragchat.jobs")
IDLE_POLL_SECONDS = 0.2


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobWorker:
    def __init__(self, settings: Settings, queue: JobQueue, jobs: JobStore) -> None:
        self.settings = settings
        self.queue = queue
        self.jobs = jobs
        self.name = worker_name()
        self.lease = settings.job_lease_seconds
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._store: ChunkStore | None = None
        self._store_lock = threading.Lock()
        self._reaped_at = 0.0
        queue.runner = self.run_job

    # --- lifecycle -------------------------------------------------------------
    def start(self, threads: int) -> None:
        self.recover()
        for i in range(threads):
            thread = threading.Thread(target=self.loop, name=f"job-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; a running job is given back to the queue for the next start."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._reap_now_and_then()
                task = self.queue.take()
                if task is None:
                    self._stopping.wait(IDLE_POLL_SECONDS)
                    continue
                self.queue.run(task)
            except Exception:  # the queue or database is down: wait, never die
                log.exception("job worker: queue or database unavailable")
                self._stopping.wait(2.0)

    def recover(self) -> None:
        """At start: re-send jobs whose worker died, drop uploads of jobs that ended."""
        self._reap_now_and_then(force=True)
        for job_id, file in self.jobs.ended_files():
            discard_upload(self.settings.data_dir, file)
            self.jobs.forget_file(job_id)

    def _reap_now_and_then(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._reaped_at < self.lease / 2:
            return
        self._reaped_at = now
        for job_id in self.jobs.requeue_stalled():
            log.warning("job %s: its worker stopped; queued again", job_id)
            self.queue.send(job_id)

    def store(self) -> ChunkStore:
        with self._store_lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    # --- one job ---------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        job = self.jobs.claim(job_id, self.name, self.lease)
        if job is None:  # cancelled, done, or another worker has it
            return
        log.info("job %s: ingesting %s (attempt %d)", job.id, job.source, job.attempts)
        cancelled = threading.Event()
        beating = threading.Event()
        heart = threading.Thread(
            target=self._heartbeat, args=(job.id, cancelled, beating), daemon=True
        )
        heart.start()
        state, error = "failed", None
        try:
            state, error = self._ingest(
                job.id, job.source, job.file, job.meta, job.owner, cancelled
            )
        except IngestCancelled:
            # Without a cancel, this worker is shutting down: hand the job back unfinished.
            state = "cancelled" if cancelled.is_set() else "released"
        except Exception as exc:  # one bad file fails its own job, never the worker
            log.exception("job %s failed", job.id)
            state, error = "failed", f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            beating.set()
            heart.join()
        if state == "released":
            if self.jobs.release(job.id, self.name):
                self.queue.send(job.id)
            return
        self.jobs.finish(job.id, self.name, state, error)
        discard_upload(self.settings.data_dir, job.file)
        self.jobs.forget_file(job.id)
        log.info("job %s: %s%s", job.id, state, f" ({error})" if error else "")

    def _ingest(
        self,
        job_id: str,
        source: str,
        file: str | None,
        meta: dict,
        owner: str | None,
        cancelled: threading.Event,
    ) -> tuple[str, str | None]:
        path = Path(self.settings.data_dir) / (file or "")
        if not file or not path.is_file():
            return "failed", "the uploaded file is no longer on the server; upload it again"

        def on_progress(done: int, total: int) -> None:
            self.jobs.progress(job_id, self.name, done, total)

        hooks = IngestHooks(
            on_progress=on_progress,
            stopped=lambda: cancelled.is_set() or self._stopping.is_set(),
            added_by=owner,
        )
        report = ingest_files(
            self.settings,
            [SourceFile(path, source)],
            meta=meta,
            store=self.store(),
            progress=False,
            hooks=hooks,
        )
        if report.errors:
            return "failed", f"{source} could not be read: {report.errors[source]}"
        if not report.chunks:
            return "failed", f"no text found in {source}"
        return "done", None

    def _heartbeat(self, job_id: str, cancelled: threading.Event, done: threading.Event) -> None:
        # Often enough that a cancel stops the job within about a second.
        while not done.wait(min(self.lease / 3, 1.0)):
            try:
                if self.jobs.heartbeat(job_id, self.name, self.lease):
                    cancelled.set()
            except Exception:  # a missed beat is survivable; the lease has slack
                log.warning("job %s: heartbeat failed", job_id, exc_info=True)
