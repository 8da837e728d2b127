"""Documents through real HTTP: uploads become jobs, real workers ingest them with the real
embedding model into the real index, and `/retrieve` finds them; cancel, crash and refusals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stack import Child, running, stop_group
from tests.utils.processes import REPO, backend, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FACT = "The Zorblax relay listens on port 48213 and was designed by Mirela Vance."
ENDED = ("done", "failed", "cancelled")


def big_markdown(parts: int = 160) -> bytes:
    """Hundreds of distinct chunks: a job long enough to cancel or to kill mid-way."""
    text = (REPO / "samples/howto/sockets.md").read_text(encoding="utf-8")
    return "\n\n".join(f"## Part {i}\n\n{text[:3000]}" for i in range(parts)).encode()


def post_files(url: str, files: list[tuple[str, bytes]], **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/documents", files=[("files", f) for f in files], timeout=60, **kw)


def wait_for(url: str, job_id: str, until: Any, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/jobs/{job_id}", timeout=30).json()
        if until(job):
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} never got there: {job}")


def top_sources(url: str, query: str, k: int = 5) -> list[str]:
    response = httpx.post(
        f"{url}/retrieve/invoke", json={"input": {"query": query, "k": k}}, timeout=120
    )
    assert response.status_code == 200, response.text
    return [c["metadata"]["source"] for c in response.json()["output"]]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("documents")
    with backend(tmp, JOB_LEASE_SECONDS="3") as base:
        yield base


def test_three_files_at_once_become_three_jobs_and_are_searchable(url: str) -> None:
    files = [
        ("json.html", (REPO / "samples/library/json.html").read_bytes()),
        ("sorting.pdf", (REPO / "samples/howto/sorting.pdf").read_bytes()),
        ("zorblax.md", f"# Zorblax\n\n{FACT}\n".encode()),
    ]
    response = post_files(url, files, data={"metadata": '{"team": "docs", "year": "2024"}'})
    assert response.status_code == 202, response.text
    jobs = response.json()["jobs"]
    assert len({j["id"] for j in jobs}) == 3
    for job in jobs:
        ended = wait_for(url, job["id"], lambda j: j["state"] in ENDED)
        assert ended["state"] == "done", ended
        assert ended["chunks_done"] == ended["chunks_total"] > 0
    assert "zorblax.md" in top_sources(url, "Which port does the Zorblax relay listen on?")
    assert "sorting.pdf" in top_sources(url, "sort a list of tuples by the second field")
    assert "json.html" in top_sources(url, "serialize a Python dict to a JSON string")
    listed = httpx.get(f"{url}/documents", params={"filter": '{"year": 2024}'}).json()
    assert {d["source"] for d in listed["documents"]} >= {"json.html", "sorting.pdf", "zorblax.md"}
    # Deleting one takes it out of the list and out of search.
    gone = httpx.delete(f"{url}/documents/zorblax.md", timeout=60)
    assert gone.status_code == 200 and gone.json()["chunks_removed"] >= 1
    assert "zorblax.md" not in top_sources(url, "Which port does the Zorblax relay listen on?")
    sources = {d["source"] for d in httpx.get(f"{url}/documents").json()["documents"]}
    assert "zorblax.md" not in sources


def test_a_running_job_can_be_cancelled_and_leaves_the_index_alone(url: str) -> None:
    job = post_files(url, [("long.md", big_markdown())]).json()["jobs"][0]
    wait_for(url, job["id"], lambda j: j["state"] == "running" and j["chunks_done"] > 0)
    cancel = httpx.delete(f"{url}/jobs/{job['id']}", timeout=30)
    assert cancel.status_code == 202 and cancel.json()["cancel_requested"]
    ended = wait_for(url, job["id"], lambda j: j["state"] in ENDED, timeout=60)
    assert ended["state"] == "cancelled"
    assert ended["chunks_done"] < ended["chunks_total"]
    sources = {d["source"] for d in httpx.get(f"{url}/documents").json()["documents"]}
    assert "long.md" not in sources


def test_cancelling_one_job_of_a_run_keeps_the_others(url: str) -> None:
    """Files uploaded together are ingested in one run; cancelling one leaves the rest."""
    short = ("wombat.md", b"# Wombats\n\nWombats produce cube-shaped droppings.")
    jobs = post_files(url, [("long2.md", big_markdown()), short]).json()["jobs"]
    wait_for(url, jobs[0]["id"], lambda j: j["state"] == "running" and j["chunks_done"] > 0)
    assert httpx.delete(f"{url}/jobs/{jobs[0]['id']}", timeout=30).status_code == 202
    long_job = wait_for(url, jobs[0]["id"], lambda j: j["state"] in ENDED, timeout=60)
    short_job = wait_for(url, jobs[1]["id"], lambda j: j["state"] in ENDED)
    assert (long_job["state"], short_job["state"]) == ("cancelled", "done")
    sources = {d["source"] for d in httpx.get(f"{url}/documents").json()["documents"]}
    assert "wombat.md" in sources and "long2.md" not in sources
    assert "long2.md" not in top_sources(url, "socket programming HOWTO Part 7", k=10)
    assert "wombat.md" in top_sources(url, "What shape are wombat droppings?")


def test_a_corrupt_pdf_fails_its_own_job_and_nothing_else(url: str) -> None:
    corrupt = (REPO / "samples/howto/sorting.pdf").read_bytes()[:3000]
    fine = ("fine.txt", b"Quokkas are small marsupials that live on Rottnest Island.")
    jobs = post_files(url, [("broken.pdf", corrupt), fine]).json()["jobs"]
    broken, ok = (wait_for(url, j["id"], lambda j: j["state"] in ENDED) for j in jobs)
    assert broken["state"] == "failed" and "broken.pdf could not be read" in broken["error"]
    assert ok["state"] == "done"
    assert "fine.txt" in top_sources(url, "Where do quokkas live?")


def test_refusals_through_real_http(url: str) -> None:
    traversal = post_files(url, [("../../etc/cron.d/evil.md", b"x")])
    assert traversal.status_code == 422 and "plain name" in traversal.json()["detail"]
    wrong_type = post_files(url, [("notes.md", b"\x7fELF\x02\x01\x01binary")])
    assert wrong_type.status_code == 415 and "binary" in wrong_type.json()["detail"]
    too_big = post_files(url, [("huge.txt", b"a" * (21 * 1024 * 1024))])
    assert too_big.status_code == 413 and "MAX_UPLOAD_BYTES" in too_big.json()["detail"]


def test_with_keys_a_non_admin_gets_403(tmp_path: Path) -> None:
    keys = "alice:alice-key-123456,bob:bob-key-1234567"
    with backend(tmp_path, API_KEYS=keys, DOCUMENT_ADMINS="alice") as base:
        md = [("a.md", b"# A\n\ntext")]
        bob = post_files(base, md, headers={"Authorization": "Bearer bob-key-1234567"})
        assert bob.status_code == 403 and "DOCUMENT_ADMINS" in bob.json()["detail"]
        alice = post_files(base, md, headers={"Authorization": "Bearer alice-key-123456"})
        assert alice.status_code == 202


def start_server(tmp: Path, data: Path, port: int) -> Any:
    argv = [sys.executable, "-m", "uvicorn", "server:create_app", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    # A crashed worker's job is leased again after 3 s instead of 30: the test waits for it.
    env = {"DATA_DIR": str(data), "JOB_LEASE_SECONDS": "3"}
    child = Child("backend", argv, f"http://127.0.0.1:{port}/health", env)
    return running(child, cwd=REPO, log_file=tmp / f"backend-{port}-{time.time():.0f}.log")


def test_a_job_interrupted_by_a_crash_completes_after_a_restart(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with start_server(tmp_path, data, port) as proc:
        job = post_files(base, [("long.md", big_markdown())]).json()["jobs"][0]
        wait_for(base, job["id"], lambda j: j["state"] == "running" and j["chunks_done"] > 0)
        os.killpg(proc.pid, signal.SIGKILL)  # no shutdown hook runs: a real crash
        proc.wait(timeout=30)
    assert list((data / "uploads").rglob("upload.md")), "the upload must outlive the crash"
    with start_server(tmp_path, data, port):
        done = wait_for(base, job["id"], lambda j: j["state"] in ENDED, timeout=600)
        assert done["state"] == "done", done
        assert "long.md" in {
            d["source"] for d in httpx.get(f"{base}/documents").json()["documents"]
        }
        assert "long.md" in top_sources(base, "socket programming HOWTO Part 7", k=10)
    assert not list((data / "uploads").rglob("upload.md")), "an ended job's file is removed"


@pytest.mark.postgres
def test_replicas_share_jobs_through_redis_and_postgres_and_run_each_once(
    tmp_path: Path,
) -> None:
    """A server and a separate `ragchat worker` (3 job threads between them) on one Redis
    queue and one PostgreSQL job table: every job runs exactly once, and either process
    answers for any job."""
    import redis

    from tests.utils.postgres import require_postgres, temporary_database

    require_postgres()
    queue_url = "redis://127.0.0.1:6379/14"
    redis.Redis.from_url(queue_url).flushdb()
    with temporary_database() as database_url:
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": queue_url,
            "JOB_QUEUE": "redis",
            "DATA_DIR": str(tmp_path / "data"),
        }
        worker_log = tmp_path / "worker.log"
        with backend(tmp_path, **env) as url, worker_log.open("wb") as out:
            argv = [sys.executable, "-m", "cli", "worker", "--threads", "2"]
            worker = subprocess.Popen(
                argv,
                cwd=REPO,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 120
                while b"waiting for jobs" not in worker_log.read_bytes():
                    assert worker.poll() is None, worker_log.read_text()
                    assert time.monotonic() < deadline, "the worker did not start"
                    time.sleep(0.2)
                files = [
                    (f"note{i}.md", f"# Note {i}\n\nNote {i} is about topic {i}.".encode())
                    for i in range(6)
                ]
                jobs = post_files(url, files).json()["jobs"]
                ended = [wait_for(url, j["id"], lambda j: j["state"] in ENDED) for j in jobs]
            finally:
                stop_group(worker, 30)
        assert [j["state"] for j in ended] == ["done"] * 6
        # `attempts` counts successful claims: 1 everywhere means no job ran twice.
        assert [j["attempts"] for j in ended] == [1] * 6
        taken = [line for line in worker_log.read_text().splitlines() if ": ingesting note" in line]
        assert taken, "the separate worker took none of the jobs"
