"""Ingest jobs in SQL: what a client polls and what makes a job run exactly once.

The queue (Huey) delivers job ids; this table decides. A worker may only run a job it
claimed with one conditional UPDATE (atomic in SQLite and PostgreSQL), so two workers
never run the same job even if its id is delivered twice. A running job holds a lease that
its worker renews; a job whose worker died (its lease ran out) is put back in the queue.
Huey deletes a message when a worker takes it, so without the lease a crash would lose it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update

from chains.documents.database import iso, jobs, shared_engine, utcnow

STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
MAX_ATTEMPTS = 3  # a job that took its worker down three times fails instead of looping


class JobNotFound(LookupError):
    pass


class JobFinished(RuntimeError):
    """Cancelling a job that has already ended."""


@dataclass(frozen=True)
class Job:
    id: str
    source: str
    state: str
    owner: str | None
    file: str | None
    meta: dict[str, Any]
    chunks_done: int
    chunks_total: int
    error: str | None
    cancel_requested: bool
    attempts: int
    created_at: Any
    updated_at: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "state": self.state,
            "chunks_done": self.chunks_done,
            "chunks_total": self.chunks_total,
            "error": self.error,
            "cancel_requested": self.cancel_requested,
            "attempts": self.attempts,
            "owner": self.owner,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, database_url: str) -> JobStore:
        return cls(shared_engine(database_url))

    # --- clients -------------------------------------------------------------
    def create(self, rows: list[dict[str, Any]], *, max_active: int) -> bool:
        """Insert queued jobs (`id`, `source`, `owner`, `file`, `meta`) unless that would
        leave more than `max_active` jobs queued or running; False if it would."""
        now = utcnow()
        with self.engine.begin() as conn:
            active = conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.state.in_(ACTIVE))
            ).scalar_one()
            if active + len(rows) > max_active:
                return False
            conn.execute(
                insert(jobs),
                [
                    {
                        **row,
                        "state": "queued",
                        "chunks_done": 0,
                        "chunks_total": 0,
                        "cancel_requested": False,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for row in rows
                ],
            )
        return True

    def get(self, job_id: str) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(job_id)
        return _job(row)

    def list(
        self,
        *,
        states: tuple[str, ...] | None = None,
        ids: tuple[str, ...] | None = None,
        limit: int = 100,
    ) -> list[Job]:
        query = select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
        if states:
            query = query.where(jobs.c.state.in_(states))
        if ids:
            query = query.where(jobs.c.id.in_(ids))
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(query)]

    def cancel(self, job_id: str) -> Job:
        """A queued job ends now; a running one stops at its worker's next check."""
        with self.engine.begin() as conn:
            ended = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state == "queued")
                .values(state="cancelled", cancel_requested=True, updated_at=utcnow())
            ).rowcount
            if not ended:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.state == "running")
                    .values(cancel_requested=True, updated_at=utcnow())
                )
        job = self.get(job_id)
        if job.state not in ACTIVE and not ended and job.state != "cancelled":
            raise JobFinished(f"job {job_id} has already ended ({job.state})")
        return job

    def mark_failed(self, job_id: str, error: str) -> None:
        self._finish(job_id, None, "failed", error)

    # --- workers -------------------------------------------------------------
    def claim(self, job_id: str, worker: str, lease_seconds: float) -> Job | None:
        """Take a queued job (or one whose worker's lease ran out); None if not ours."""
        now = time.time()
        claimable = and_(
            jobs.c.id == job_id,
            jobs.c.cancel_requested.is_(False),
            or_(
                jobs.c.state == "queued",
                and_(jobs.c.state == "running", jobs.c.lease_until < now),
            ),
        )
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(jobs)
                .where(claimable)
                .values(
                    state="running",
                    worker=worker,
                    lease_until=now + lease_seconds,
                    attempts=jobs.c.attempts + 1,
                    updated_at=utcnow(),
                )
            ).rowcount
        if not taken:
            return None
        job = self.get(job_id)
        if job.attempts > MAX_ATTEMPTS:
            self._finish(
                job_id,
                worker,
                "failed",
                f"gave up after {MAX_ATTEMPTS} attempts: the worker stopped during each",
            )
            return None
        return job

    def claim_queued(
        self, worker: str, lease_seconds: float, *, limit: int, skip_sources: set[str]
    ) -> list[Job]:
        """Up to `limit` more queued jobs, oldest first, to ingest in the same run.

        Their messages stay in the queue and are skipped when taken (the claim fails).
        One source once per run: two uploads of one name must not write together.
        """
        if limit <= 0:
            return []
        query = (
            select(jobs.c.id, jobs.c.source)
            .where(jobs.c.state == "queued", jobs.c.cancel_requested.is_(False))
            .order_by(jobs.c.created_at, jobs.c.id)
            .limit(limit * 2)
        )
        with self.engine.connect() as conn:
            candidates = conn.execute(query).all()
        taken: list[Job] = []
        sources = set(skip_sources)
        for row in candidates:
            if len(taken) >= limit:
                break
            if row.source in sources:
                continue
            job = self.claim(row.id, worker, lease_seconds)
            if job is not None:
                taken.append(job)
                sources.add(job.source)
        return taken

    def heartbeat(self, job_ids: list[str], worker: str, lease_seconds: float) -> set[str]:
        """Renew the leases; the ids a client asked to cancel (or that are no longer ours)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(job_ids), jobs.c.worker == worker, jobs.c.state == "running")
                .values(lease_until=time.time() + lease_seconds)
            )
            rows = conn.execute(
                select(jobs.c.id, jobs.c.cancel_requested, jobs.c.worker).where(
                    jobs.c.id.in_(job_ids)
                )
            ).all()
        seen = {r.id for r in rows}
        lost = {r.id for r in rows if r.cancel_requested or r.worker != worker}
        return lost | (set(job_ids) - seen)

    def progress(self, job_id: str, worker: str, done: int, total: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.worker == worker)
                .values(chunks_done=done, chunks_total=total, updated_at=utcnow())
            )

    def finish(self, job_id: str, worker: str, state: str, error: str | None = None) -> None:
        self._finish(job_id, worker, state, error)

    def release(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (its worker is shutting down)."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.state == "running")
                    .values(
                        state="queued",
                        worker=None,
                        lease_until=None,
                        attempts=jobs.c.attempts - 1,  # not the job's fault
                        updated_at=utcnow(),
                    )
                ).rowcount
                > 0
            )

    def requeue_stalled(self) -> list[str]:
        """Jobs whose worker died: back to `queued` (each by one caller only), for re-sending.

        A stalled job a client cancelled meanwhile ends as cancelled instead.
        """
        now = time.time()
        stalled = and_(jobs.c.state == "running", jobs.c.lease_until < now)
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(stalled, jobs.c.cancel_requested.is_(True))
                .values(state="cancelled", updated_at=utcnow())
            )
            ids = [r.id for r in conn.execute(select(jobs.c.id).where(stalled))]
        requeued = []
        for job_id in ids:
            with self.engine.begin() as conn:
                if conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, stalled)
                    .values(state="queued", worker=None, lease_until=None, updated_at=utcnow())
                ).rowcount:
                    requeued.append(job_id)
        return requeued

    def ended_files(self) -> list[tuple[str, str]]:
        """(job id, file) of ended jobs whose upload is still on disk."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.id, jobs.c.file).where(
                    jobs.c.state.not_in(ACTIVE), jobs.c.file.is_not(None)
                )
            )
            return [(r.id, r.file) for r in rows]

    def forget_file(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(file=None))

    def _finish(self, job_id: str, worker: str | None, state: str, error: str | None) -> None:
        where = [jobs.c.id == job_id]
        if worker is not None:
            where.append(jobs.c.worker == worker)
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(*where)
                .values(state=state, error=error, lease_until=None, updated_at=utcnow())
            )


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        source=row.source,
        state=row.state,
        owner=row.owner,
        file=row.file,
        meta=dict(row.meta or {}),
        chunks_done=row.chunks_done,
        chunks_total=row.chunks_total,
        error=row.error,
        cancel_requested=bool(row.cancel_requested),
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
