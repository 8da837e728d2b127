"""The client's document, job and retrieval calls against an in-memory transport."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
import pytest

from frontend.errors import BackendError
from tests.frontend.test_client import recording_client

JOB = {"id": "j1", "source": "a.md", "state": "queued", "chunks_done": 0, "chunks_total": 0}


def form_parts(request: httpx.Request) -> list[tuple[str, str | None, bytes]]:
    """(field name, file name, content) of each part of a multipart body."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    return [
        (part.get_param("name", header="content-disposition"), part.get_filename(),
         part.get_payload(decode=True))
        for part in message.iter_parts()
    ]  # fmt: skip


def test_upload_sends_every_file_the_metadata_and_the_username() -> None:
    client, seen = recording_client(
        lambda r: httpx.Response(202, json={"jobs": [JOB, {**JOB, "id": "j2"}]}), api_key="k-1"
    )
    jobs = client.upload_documents(
        [("a.md", b"# A"), ("b.txt", b"bee")], {"team": "docs", "year": "2024"}, "ann"
    )
    assert [job["id"] for job in jobs] == ["j1", "j2"]
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/documents")
    assert request.headers["authorization"] == "Bearer k-1"
    parts = form_parts(request)
    assert [(name, filename) for name, filename, _ in parts] == [
        ("metadata", None),
        ("username", None),
        ("files", "a.md"),
        ("files", "b.txt"),
    ]
    assert json.loads(parts[0][2]) == {"team": "docs", "year": "2024"}
    assert parts[1][2] == b"ann" and parts[2][2] == b"# A" and parts[3][2] == b"bee"


def test_upload_without_metadata_or_username_sends_only_files() -> None:
    client, seen = recording_client(lambda r: httpx.Response(202, json={"jobs": [JOB]}))
    client.upload_documents([("a.md", b"# A")], {}, "")
    assert [name for name, _, _ in form_parts(seen[0])] == ["files"]


def test_upload_of_nothing_is_refused_before_any_request() -> None:
    client, seen = recording_client(lambda r: httpx.Response(202, json={"jobs": []}))
    with pytest.raises(BackendError, match="at least one file"):
        client.upload_documents([], {"team": "docs"}, "ann")
    assert seen == []


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        (413, "a.md is 30000000 bytes; the limit is 20971520", "too large (HTTP 413): a.md is"),
        (403, "user 'bob' may not add or delete documents", "does not allow this (HTTP 403)"),
        (429, "the ingest queue is full", "Too many requests"),
        (422, "metadata: metadata must be a JSON object", "(HTTP 422): metadata: metadata must"),
    ],
)
def test_upload_refusals_carry_the_servers_reason(status: int, detail: str, expected: str) -> None:
    client, _ = recording_client(lambda r: httpx.Response(status, json={"detail": detail}))
    with pytest.raises(BackendError) as caught:
        client.upload_documents([("a.md", b"# A")])
    assert expected in str(caught.value) and caught.value.status == status


def test_job_and_cancel_quote_the_id() -> None:
    client, seen = recording_client(lambda r: httpx.Response(200, json=JOB))
    assert client.job("j/1") == JOB
    assert client.cancel_job("j1") == JOB
    assert [(r.method, r.url.raw_path) for r in seen] == [
        ("GET", b"/jobs/j%2F1"),
        ("DELETE", b"/jobs/j1"),
    ]


def test_many_jobs_are_polled_in_one_request() -> None:
    client, seen = recording_client(lambda r: httpx.Response(200, json={"jobs": [JOB, JOB]}))
    assert client.jobs(["a", "b"]) == [JOB, JOB]
    assert len(seen) == 1
    assert dict(seen[0].url.params) == {"ids": "a,b", "limit": "2"}


def test_cancelling_an_ended_job_is_a_409_backend_error() -> None:
    detail = {"detail": "job j1 has already ended (done)"}
    client, _ = recording_client(lambda r: httpx.Response(409, json=detail))
    with pytest.raises(BackendError, match="already ended") as caught:
        client.cancel_job("j1")
    assert caught.value.status == 409


def test_documents_pages_and_sends_the_filter_as_json() -> None:
    listing: dict[str, Any] = {"documents": [], "total": 0, "offset": 50, "limit": 50}
    client, seen = recording_client(lambda r: httpx.Response(200, json=listing))
    assert client.documents(50, 50, {"team": "docs"}) == listing
    client.documents()
    assert dict(seen[0].url.params) == {"offset": "50", "limit": "50", "filter": '{"team": "docs"}'}
    assert dict(seen[1].url.params) == {"offset": "0", "limit": "50"}


def test_delete_document_quotes_slashes_and_spaces_in_the_source() -> None:
    removed = {"source": "docs/my notes.md", "chunks_removed": 3}
    client, seen = recording_client(lambda r: httpx.Response(200, json=removed))
    assert client.delete_document("docs/my notes.md") == removed
    assert (seen[0].method, seen[0].url.raw_path) == ("DELETE", b"/documents/docs%2Fmy%20notes.md")


def test_deleting_an_unknown_document_says_not_found() -> None:
    client, _ = recording_client(
        lambda r: httpx.Response(404, json={"detail": "no document 'x.md'"})
    )
    with pytest.raises(BackendError, match=r"Not found \(HTTP 404\): no document 'x.md'"):
        client.delete_document("x.md")


def test_retrieve_omits_empty_fields_and_returns_the_chunks() -> None:
    chunk = {"page_content": "text", "metadata": {"source": "a.md"}, "score": 0.5}
    client, seen = recording_client(
        lambda r: httpx.Response(200, json={"output": [chunk], "metadata": {"run_id": "r"}})
    )
    assert client.retrieve("port?", k=3, mode="dense", filter={"team": "docs"}) == [chunk]
    assert client.retrieve("port?") == [chunk]
    assert seen[0].url.path == "/retrieve/invoke"
    assert json.loads(seen[0].content) == {
        "input": {"query": "port?", "k": 3, "mode": "dense", "filter": {"team": "docs"}}
    }
    assert json.loads(seen[1].content) == {"input": {"query": "port?"}}


def test_retrieve_422_reads_as_the_field_and_its_reason() -> None:
    detail = [{"loc": ["body", "input", "filter"], "msg": "Value error, unknown operator '$x'"}]
    client, _ = recording_client(lambda r: httpx.Response(422, json={"detail": detail}))
    with pytest.raises(BackendError, match=r"\(HTTP 422\): filter: unknown operator '\$x'"):
        client.retrieve("q", filter={"a": {"$x": 1}})


def test_retrieve_without_a_chunk_list_is_a_readable_error() -> None:
    client, _ = recording_client(lambda r: httpx.Response(200, json={"output": "nope"}))
    with pytest.raises(BackendError, match="cannot read"):
        client.retrieve("q")
