"""What an ingest job's progress bar says: pure functions of the job `GET /jobs/{id}` returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from frontend.documents.formatting import plural

ACTIVE_STATES = frozenset({"queued", "running"})
FINISHED_STATES = frozenset({"done", "failed", "cancelled"})

Job = Mapping[str, Any]


def is_active(job: Job) -> bool:
    """Still worth polling (an unknown state counts as finished, so polling always ends)."""
    return job.get("state") in ACTIVE_STATES


def any_active(jobs: Iterable[Job]) -> bool:
    return any(is_active(job) for job in jobs)


def progress_fraction(job: Job) -> float:
    """Chunks done of chunks in all, in [0, 1]; a finished job's bar is full unless it failed
    or was cancelled, where it stops where the work stopped."""
    if job.get("state") == "done":
        return 1.0
    done, total = job.get("chunks_done") or 0, job.get("chunks_total") or 0
    if total <= 0:  # the file is not split yet
        return 0.0
    return min(max(done / total, 0.0), 1.0)


def progress_label(job: Job) -> str:
    """`notes.md · 12/24 chunks`: the file, then where its job stands, in words."""
    source = str(job.get("source") or job.get("id") or "file")
    state = str(job.get("state") or "unknown")
    done, total = job.get("chunks_done") or 0, job.get("chunks_total") or 0
    if state == "queued":
        status = "queued"
    elif state == "running" and job.get("cancel_requested"):
        status = "cancelling…"
    elif state == "running":
        status = f"{done}/{total} chunks" if total else "splitting…"
    elif state == "done":
        status = f"done · {plural(total, 'chunk')}"
    elif state in ("failed", "cancelled"):
        status = f"{state} after {done}/{total} chunks" if total else state
    else:
        status = state
    return f"{source} · {status}"
