"""The job queue: Huey carries job ids from the API to the workers.

SQLite under DATA_DIR by default (nothing to run); Redis when `REDIS_URL` is set (or
`JOB_QUEUE=redis`), so workers on other hosts take jobs too. Huey's dequeue is atomic in
both, so one message reaches one worker; `chains.documents.jobs` makes sure a job id that
is sent twice (after a crash) still runs once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huey import RedisHuey, SqliteHuey

if TYPE_CHECKING:
    from huey import Huey

    from settings import Settings

QUEUE_NAME = "ragchat-ingest"
TASK_NAME = "ragchat.ingest_job"


def queue_kind(settings: Settings) -> str:
    if settings.job_queue != "auto":
        return settings.job_queue
    return "redis" if settings.redis_url else "sqlite"


def build_huey(settings: Settings) -> Huey:
    if queue_kind(settings) == "redis":
        if not settings.redis_url:
            raise ValueError("JOB_QUEUE=redis needs REDIS_URL")
        return RedisHuey(QUEUE_NAME, url=settings.redis_url, results=False)
    folder = Path(settings.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(folder / "jobs-queue.sqlite3"), results=False)


class JobQueue:
    """Send job ids; a worker takes one message at a time and runs it with its runner."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self.runner: Callable[[str], None] | None = None

        @huey.task(name=TASK_NAME)
        def ingest_job(job_id: str) -> None:
            if self.runner is None:
                raise RuntimeError("this process has no job worker")
            self.runner(job_id)

        self._task = ingest_job

    @classmethod
    def from_settings(cls, settings: Settings) -> JobQueue:
        return cls(build_huey(settings))

    def send(self, job_id: str) -> None:
        self._task(job_id)

    def take(self) -> Any:
        """The next message, or None; removed from the queue as it is taken."""
        return self.huey.dequeue()

    def run(self, task: Any) -> None:
        self.huey.execute(task)
