"""Jobs, catalog and upload checks of `chains.documents`, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from chains.documents.catalog import DocumentCatalog, DocumentEntry
from chains.documents.database import create_sync_engine
from chains.documents.jobs import MAX_ATTEMPTS, JobFinished, JobStore, new_job_id
from chains.documents.uploads import (
    UploadRefused,
    check_content,
    discard_upload,
    document_name,
    store_upload,
    typed_metadata,
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_sync_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def jobs(engine: Engine) -> JobStore:
    return JobStore(engine)


def queue_one(jobs: JobStore, source: str = "a.md", **extra: object) -> str:
    job_id = new_job_id()
    row = {"id": job_id, "source": source, "owner": "ann", "file": None, "meta": {}, **extra}
    assert jobs.create([row], max_active=100)
    return job_id


def test_a_job_is_claimed_by_one_worker_only(jobs: JobStore) -> None:
    job_id = queue_one(jobs)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claim(name: str) -> None:
        barrier.wait()
        if jobs.claim(job_id, name, lease_seconds=60) is not None:
            winners.append(name)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    job = jobs.get(job_id)
    assert (job.state, job.attempts) == ("running", 1)


def test_a_stalled_job_is_requeued_once_and_claimed_again(jobs: JobStore) -> None:
    job_id = queue_one(jobs)
    assert jobs.claim(job_id, "dead", lease_seconds=0.05) is not None
    assert jobs.claim(job_id, "other", lease_seconds=60) is None  # lease still held
    time.sleep(0.1)
    assert jobs.requeue_stalled() == [job_id]
    assert jobs.requeue_stalled() == []  # a second reaper finds nothing to do
    assert jobs.get(job_id).state == "queued"
    again = jobs.claim(job_id, "alive", lease_seconds=60)
    assert again is not None and again.attempts == 2


def test_a_job_that_keeps_killing_its_worker_fails(jobs: JobStore) -> None:
    job_id = queue_one(jobs)
    for _ in range(MAX_ATTEMPTS):
        assert jobs.claim(job_id, "w", lease_seconds=0.01) is not None
        time.sleep(0.02)
        jobs.requeue_stalled()
    assert jobs.claim(job_id, "w", lease_seconds=60) is None
    job = jobs.get(job_id)
    assert job.state == "failed" and "attempts" in (job.error or "")


def test_heartbeat_renews_the_lease_and_reports_a_cancel(jobs: JobStore) -> None:
    job_id = queue_one(jobs)
    jobs.claim(job_id, "w", lease_seconds=0.2)
    assert jobs.heartbeat([job_id], "w", lease_seconds=60) == set()
    time.sleep(0.3)
    assert jobs.requeue_stalled() == []  # renewed, not stalled
    cancelled = jobs.cancel(job_id)
    assert cancelled.state == "running" and cancelled.cancel_requested
    assert jobs.heartbeat([job_id], "w", lease_seconds=60) == {job_id}


def test_cancel_ends_a_queued_job_at_once_and_refuses_an_ended_one(jobs: JobStore) -> None:
    job_id = queue_one(jobs)
    assert jobs.cancel(job_id).state == "cancelled"
    assert jobs.claim(job_id, "w", lease_seconds=60) is None
    done = queue_one(jobs, "b.md")
    jobs.claim(done, "w", lease_seconds=60)
    jobs.finish(done, "w", "done")
    with pytest.raises(JobFinished):
        jobs.cancel(done)


def test_more_queued_jobs_join_a_run_oldest_first_one_per_source(jobs: JobStore) -> None:
    first = queue_one(jobs, "a.md")
    same_name = queue_one(jobs, "a.md")
    others = [queue_one(jobs, f"{name}.md") for name in "bcd"]
    jobs.cancel(others[0])
    jobs.claim(first, "w", lease_seconds=60)
    taken = jobs.claim_queued("w", 60, limit=5, skip_sources={"a.md"})
    assert [j.id for j in taken] == others[1:]  # not the cancelled one, not a second a.md
    assert all(j.state == "running" for j in taken)
    assert jobs.get(same_name).state == "queued"


def test_release_gives_a_job_back_without_spending_an_attempt(jobs: JobStore) -> None:
    job_id = queue_one(jobs)
    jobs.claim(job_id, "w", lease_seconds=60)
    assert jobs.release(job_id, "w")
    job = jobs.get(job_id)
    assert (job.state, job.attempts) == ("queued", 0)


def test_the_queue_is_bounded(jobs: JobStore) -> None:
    rows = [
        {"id": new_job_id(), "source": f"{i}.md", "owner": None, "file": None, "meta": {}}
        for i in range(3)
    ]
    assert jobs.create(rows[:2], max_active=3)
    assert not jobs.create(rows[2:] + [{**rows[2], "id": new_job_id()}], max_active=3)
    assert len(jobs.list()) == 2


def test_catalog_pages_newest_first_and_filters_like_retrieve(engine: Engine) -> None:
    catalog = DocumentCatalog(engine)
    catalog.record([DocumentEntry("a.md", "A", 3, {"team": "x", "year": 2023})])
    time.sleep(0.01)
    catalog.record([DocumentEntry("b.md", "B", 5, {"team": "y", "year": 2024}, "bo")])
    page, total = catalog.page(offset=0, limit=1)
    assert total == 2 and [e.source for e in page] == ["b.md"]
    found, total = catalog.page(offset=0, limit=10, filter={"year": {"$gte": 2024}})
    assert (total, found[0].added_by) == (1, "bo")
    catalog.record([DocumentEntry("a.md", "A2", 4, {})])  # re-ingest replaces
    assert catalog.get("a.md").title == "A2" and catalog.count() == 2
    catalog.record([DocumentEntry("c.md", "C", 1, {})], replace_all=True)
    assert [e.source for e in catalog.page(offset=0, limit=10)[0]] == ["c.md"]
    assert catalog.remove("c.md") and not catalog.remove("c.md")


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd.md", "a/b.md", "C:\\x\\y.md", "..", ".env", "", "bad\x00.md", "x\n.md"],
)
def test_names_with_folders_or_controls_are_refused(name: str) -> None:
    with pytest.raises(UploadRefused) as refused:
        document_name(name)
    assert refused.value.status == 422


def test_unsupported_types_are_415() -> None:
    with pytest.raises(UploadRefused) as refused:
        document_name("setup.exe")
    assert refused.value.status == 415
    assert document_name("  Guide.MD ") == "Guide.MD"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("fake.pdf", b"just text"),
        ("image.md", b"\x89PNG\r\n\x1a\n...."),
        ("zip.txt", b"PK\x03\x04rest"),
        ("nul.rst", b"text\x00more"),
        ("latin.txt", "caf\xe9".encode("latin-1")),
        ("page.html", b"no markup at all"),
    ],
)
def test_content_that_is_not_what_its_extension_says_is_415(name: str, data: bytes) -> None:
    with pytest.raises(UploadRefused) as refused:
        check_content(name, data)
    assert refused.value.status == 415 and name in str(refused.value)


def test_real_files_pass_the_content_check() -> None:
    samples = Path(__file__).resolve().parents[2] / "samples"
    for path in [*samples.rglob("*.html"), *samples.rglob("*.pdf"), *samples.rglob("*.md")]:
        check_content(path.name, path.read_bytes())


def test_uploads_are_stored_by_job_id_and_discarded_only_under_uploads(tmp_path: Path) -> None:
    relative = store_upload(tmp_path, "job1", "../../evil.md", b"x")
    assert relative == "uploads/job1/upload.md"
    assert (tmp_path / relative).read_bytes() == b"x"
    outside = tmp_path / "keep" / "file.md"
    outside.parent.mkdir()
    outside.write_text("keep")
    discard_upload(tmp_path, "keep/file.md")  # not an upload folder: left alone
    assert outside.exists()
    discard_upload(tmp_path, relative)
    assert not (tmp_path / "uploads" / "job1").exists()


def test_metadata_is_typed_like_the_cli_and_reserved_keys_are_refused() -> None:
    typed = typed_metadata(json.loads('{"year": "2024", "ratio": "0.5", "draft": "true", "n": 3}'))
    assert typed == {"year": 2024, "ratio": 0.5, "draft": True, "n": 3}
    for bad in ({"source": "x"}, {"$or": "x"}, {"k": [1]}, ["not", "an", "object"]):
        with pytest.raises(UploadRefused):
            typed_metadata(bad)
