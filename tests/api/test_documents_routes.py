"""The document and job routes in process, with no worker running (jobs stay queued).

What a worker does with a job is tested against a real server in
tests/integration/test_documents_live.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import fake_chat_model

MD = ("guide.md", b"# Guide\n\nThe answer is 42.\n", "text/markdown")


def make_client(settings: Settings, **update: Any) -> TestClient:
    settings = settings.model_copy(update={"document_workers": 0, **update})
    return TestClient(create_app(settings, Resources(settings=settings, llm=fake_chat_model())))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with make_client(settings) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(module_settings: Settings) -> Iterator[TestClient]:
    """One app for the requests refused before anything is queued or kept."""
    with make_client(module_settings) as test_client:
        yield test_client


def upload(client: TestClient, *files: tuple[str, bytes, str], **form: str) -> Any:
    return client.post("/documents", files=[("files", f) for f in files], data=form)


def test_upload_queues_one_job_per_file_and_keeps_the_files(
    client: TestClient, settings: Settings
) -> None:
    second = ("notes.txt", b"plain notes", "text/plain")
    response = upload(client, MD, second, metadata='{"team": "docs", "year": "2024"}')
    assert response.status_code == 202, response.text
    jobs = response.json()["jobs"]
    assert [(j["source"], j["state"]) for j in jobs] == [
        ("guide.md", "queued"),
        ("notes.txt", "queued"),
    ]
    polled = client.get(f"/jobs/{jobs[0]['id']}").json()
    assert polled["state"] == "queued" and polled["chunks_total"] == 0
    kept = sorted((settings.data_dir / "uploads").rglob("upload.*"))
    assert len(kept) == 2 and kept[0].read_bytes() in (MD[1], second[1])
    listed = client.get("/jobs", params={"state": "queued"}).json()["jobs"]
    assert {j["id"] for j in listed} == {j["id"] for j in jobs}
    one = client.get("/jobs", params={"ids": f"{jobs[1]['id']},unknown"}).json()["jobs"]
    assert [j["source"] for j in one] == ["notes.txt"]
    typo = client.get("/jobs", params={"state": "queud"})
    assert typo.status_code == 422 and "queued, running" in typo.json()["detail"]


def test_cancelling_a_queued_job_ends_it_and_a_second_cancel_is_409(client: TestClient) -> None:
    job = upload(client, MD).json()["jobs"][0]
    cancelled = client.delete(f"/jobs/{job['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.delete(f"/jobs/{job['id']}").status_code == 200  # idempotent
    assert client.get("/jobs/nope").status_code == 404


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        ([("../../etc/passwd.md", b"x", "text/markdown")], 422, "plain name"),
        ([("run.exe", b"MZ", "application/octet-stream")], 415, "unsupported type"),
        ([("fake.pdf", b"hello", "application/pdf")], 415, "not a PDF"),
        ([("pic.md", b"\x89PNG\r\n\x1a\n\x00", "text/markdown")], 415, "binary"),
        ([MD, MD], 422, "twice"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_queued(
    shared_client: TestClient, module_settings: Settings, files: list, status: int, words: str
) -> None:
    response = upload(shared_client, *files)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert shared_client.get("/jobs").json()["jobs"] == []
    assert not list((module_settings.data_dir / "uploads").rglob("upload.*"))


def test_size_limits_per_file_per_request_and_file_count(settings: Settings) -> None:
    big = ("big.txt", b"a" * 5000, "text/plain")
    with make_client(settings, max_upload_bytes=4096, max_files_per_upload=2) as client:
        per_file = upload(client, big)
        assert per_file.status_code == 413 and "MAX_UPLOAD_BYTES" in per_file.json()["detail"]
        many = upload(client, MD, ("b.md", b"b", "text/markdown"), ("c.md", b"c", "text/markdown"))
        assert many.status_code == 413 and "at most 2" in many.json()["detail"]
    with make_client(settings, max_upload_request_bytes=4096) as client:
        whole = upload(client, big)
        assert whole.status_code == 413 and "MAX_UPLOAD_REQUEST_BYTES" in whole.json()["detail"]
        # Other routes keep MAX_BODY_BYTES; the upload limit is for POST /documents only.
        assert client.get("/documents").status_code == 200


def test_a_full_queue_is_429_with_retry_after(settings: Settings) -> None:
    with make_client(settings, max_queued_jobs=2) as client:
        assert upload(client, MD, ("b.md", b"b", "text/markdown")).status_code == 202
        full = upload(client, ("c.md", b"c", "text/markdown"))
        assert full.status_code == 429 and "MAX_QUEUED_JOBS" in full.json()["detail"]
        assert full.headers["retry-after"]


@pytest.mark.parametrize(
    "metadata", ['{"source": "x"}', "[1, 2]", "not json", '{"k": {"nested": 1}}']
)
def test_bad_metadata_is_422(shared_client: TestClient, metadata: str) -> None:
    response = upload(shared_client, MD, metadata=metadata)
    assert response.status_code == 422 and response.json()["detail"].startswith("metadata")


def test_with_keys_only_document_admins_change_documents(settings: Settings) -> None:
    keys = SecretStr("alice:key-alice-123,bob:key-bob-456")
    with make_client(settings, api_keys=keys, document_admins="alice") as client:
        bob = {"Authorization": "Bearer key-bob-456"}
        alice = {"Authorization": "Bearer key-alice-123"}
        assert client.post("/documents", files=[("files", MD)]).status_code == 401
        refused = client.post("/documents", files=[("files", MD)], headers=bob)
        assert refused.status_code == 403 and "DOCUMENT_ADMINS" in refused.json()["detail"]
        accepted = client.post("/documents", files=[("files", MD)], headers=alice)
        assert accepted.status_code == 202
        job = accepted.json()["jobs"][0]
        assert job["owner"] == "alice"  # the key's user, not a form field
        assert client.delete(f"/jobs/{job['id']}", headers=bob).status_code == 403
        assert client.delete("/documents/guide.md", headers=bob).status_code == 403
        # Everyone may read.
        assert client.get(f"/jobs/{job['id']}", headers=bob).status_code == 200
        assert client.get("/documents", headers=bob).status_code == 200


def test_document_list_filters_and_pages(client: TestClient, settings: Settings) -> None:
    from chains.documents.catalog import DocumentCatalog, DocumentEntry

    catalog = DocumentCatalog.from_url(settings.resolved_database_url)
    catalog.record([DocumentEntry(f"d{i}.md", f"D{i}", i + 1, {"n": i}, "ann") for i in range(5)])
    page = client.get("/documents", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and len(page["documents"]) == 2
    wanted = client.get("/documents", params={"filter": json.dumps({"n": {"$gte": 3}})}).json()
    assert sorted(d["source"] for d in wanted["documents"]) == ["d3.md", "d4.md"]
    bad = client.get("/documents", params={"filter": '{"n": {"$regex": "x"}}'})
    assert bad.status_code == 422 and "$regex" in bad.json()["detail"]
    assert client.get("/documents", params={"filter": "{oops"}).status_code == 422


def test_deleting_an_unknown_document_is_404(shared_client: TestClient) -> None:
    response = shared_client.delete("/documents/nothing-here.md")
    assert response.status_code == 404 and "nothing-here.md" in response.json()["detail"]
