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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from chains.documents.jobs import Job, JobStore
from chains.documents.queue import JobQueue
from chains.documents.uploads import discard_upload
from chains.ingest.loaders import SourceFile
from chains.ingest.pipeline import (
    IngestCancelled,
    IngestHooks,
    delete_source,
    ingest_files,
    open_store,
)

if TYPE_CHECKING:
    from chains.index.backend import ChunkStore
    from settings import Settings

log = logging.getLogger("ragchat.jobs")
IDLE_POLL_SECONDS = 0.2
BATCH_JOBS = 16  # queued jobs ingested in one run at most
BATCH_BYTES = 4 * 1024 * 1024  # and at most this much of uploaded files


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobWorker:
    def __init__(
        self,
        settings: Settings,
        queue: JobQueue,
        jobs: JobStore,
        store: Callable[[], ChunkStore] | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.jobs = jobs
        self.name = worker_name()
        self.lease = settings.job_lease_seconds
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # The process's writable index (shared with DELETE /documents), opened on first use.
        self.store = store or lazy_store(settings)
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

    # --- one run: a job, and the queued jobs that fit beside it -------------------
    def run_job(self, job_id: str) -> None:
        """Ingest this job together with other queued ones (up to `BATCH_BYTES` of files).

        One run embeds all their chunks in one pass and writes the index once: a write
        rewrites the embedded index's version, so one per file made uploads of many small
        files cost a quarter more than the CLI (bench/upload_speed.py).
        """
        first = self.jobs.claim(job_id, self.name, self.lease)
        if first is None:  # cancelled, done, or another worker has it
            return
        batch = [first, *self._more_jobs(first)]
        by_id = {job.id: job for job in batch}
        log.info("jobs: ingesting %s", ", ".join(f"{j.source} ({j.id})" for j in batch))
        cancelled: set[str] = set()
        beating = threading.Event()
        heart = threading.Thread(
            target=self._heartbeat, args=(list(by_id), cancelled, beating), daemon=True
        )
        heart.start()
        outcome: dict[str, tuple[str, str | None]] = {}
        try:
            outcome = self._ingest(batch, cancelled)
        except IngestCancelled:
            # Without a cancel of every job, this worker is shutting down: hand them back.
            outcome = {j: ("cancelled" if j in cancelled else "released", None) for j in by_id}
        except Exception as exc:  # a failure of the run fails its jobs, never the worker
            log.exception("jobs %s failed", list(by_id))
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
            outcome = {j: ("failed", error) for j in by_id}
        finally:
            beating.set()
            heart.join()
        for job_id_, (state, error) in outcome.items():
            job = by_id[job_id_]
            if state == "released":
                if self.jobs.release(job.id, self.name):
                    self.queue.send(job.id)
                continue
            if job.id in cancelled:
                state, error = "cancelled", None
            self.jobs.finish(job.id, self.name, state, error)
            discard_upload(self.settings.data_dir, job.file)
            self.jobs.forget_file(job.id)
            log.info("job %s (%s): %s%s", job.id, job.source, state, f": {error}" if error else "")

    def _more_jobs(self, first: Job) -> list[Job]:
        budget = BATCH_BYTES - self._size(first)
        if budget <= 0:
            return []
        more = self.jobs.claim_queued(
            self.name, self.lease, limit=BATCH_JOBS - 1, skip_sources={first.source}
        )
        kept: list[Job] = []
        for job in more:
            size = self._size(job)
            if size <= budget:
                kept.append(job)
                budget -= size
            elif self.jobs.release(job.id, self.name):  # too big for this run: next one
                self.queue.send(job.id)
        return kept

    def _size(self, job: Job) -> int:
        path = Path(self.settings.data_dir) / (job.file or "")
        return path.stat().st_size if job.file and path.is_file() else 0

    def _ingest(self, batch: list[Job], cancelled: set[str]) -> dict[str, tuple[str, str | None]]:
        outcome: dict[str, tuple[str, str | None]] = {}
        files: list[SourceFile] = []
        for job in batch:
            path = Path(self.settings.data_dir) / (job.file or "")
            if not job.file or not path.is_file():
                outcome[job.id] = (
                    "failed",
                    "the uploaded file is gone from the server; upload it again",
                )
                continue
            files.append(SourceFile(path, job.source, job.meta, job.owner))
        live = [job for job in batch if job.id not in outcome]
        if not live:
            return outcome
        spans: dict[str, tuple[int, int]] = {}  # source → (first chunk, chunks)

        def on_split(counts: dict[str, int]) -> None:
            start = 0
            for source, n in counts.items():
                spans[source] = (start, n)
                start += n
            on_progress(0, start)  # every bar shows its total before the first step

        reported: dict[str, int] = {}

        def on_progress(done: int, _total: int) -> None:
            for job in live:  # only the jobs this step moved: one UPDATE each
                start, n = spans.get(job.source, (0, 0))
                mine = min(max(done - start, 0), n)
                if reported.get(job.id) != mine:
                    reported[job.id] = mine
                    self.jobs.progress(job.id, self.name, mine, n)

        sources = {job.id: job.source for job in live}
        left_out: set[str] = set()

        def dropped() -> set[str]:
            left_out.update(sources[j] for j in list(cancelled) if j in sources)
            return set(left_out)

        hooks = IngestHooks(
            on_split=on_split,
            on_progress=on_progress,
            stopped=lambda: self._stopping.is_set() or set(sources) <= cancelled,
            dropped=dropped,
        )
        report = ingest_files(self.settings, files, store=self.store(), progress=False, hooks=hooks)
        # Cancelled between the last check and the write: a cancelled job leaves nothing.
        for source in {sources[j] for j in list(cancelled) if j in sources} - left_out:
            delete_source(self.settings, source, store=self.store())
        for job in live:
            if job.source in report.errors:
                error = f"{job.source} could not be read: {report.errors[job.source]}"
                outcome[job.id] = ("failed", error)
            elif job.source not in spans or not spans[job.source][1]:
                outcome[job.id] = ("failed", f"no text found in {job.source}")
            else:
                outcome[job.id] = ("done", None)
        return outcome

    def _heartbeat(self, job_ids: list[str], cancelled: set[str], done: threading.Event) -> None:
        # Often enough that a cancel stops the job within about a second.
        while not done.wait(min(self.lease / 3, 1.0)):
            try:
                for job_id in self.jobs.heartbeat(job_ids, self.name, self.lease) - cancelled:
                    cancelled.add(job_id)
                    # Ends now for the client; its chunks are left out of the write.
                    self.jobs.finish(job_id, self.name, "cancelled")
            except Exception:  # a missed beat is survivable; the lease has slack
                log.warning("jobs %s: heartbeat failed", job_ids, exc_info=True)


def lazy_store(settings: Settings) -> Callable[[], ChunkStore]:
    """The configured writable index, opened once on first call (it loads the whole index)."""
    opened: list[ChunkStore] = []
    lock = threading.Lock()

    def store() -> ChunkStore:
        with lock:
            if not opened:
                opened.append(open_store(settings))
            return opened[0]

    return store
