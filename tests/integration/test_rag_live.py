"""RAG over the sample documents, end to end: the CLI ingests, uvicorn serves, RemoteRunnable asks.

Real embeddings (ONNX int8 built from the bundled MiniLM), the real index, the real
local model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langserve import RemoteRunnable

from tests.utils.processes import REPO, backend

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def ragchat(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DATA_DIR": str(data_dir)},
        timeout=600,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("rag") / "data"
    for folder, year in [("library", "2024"), ("howto", "2023")]:
        done = ragchat(
            data,
            "ingest",
            f"samples/{folder}",
            "--meta",
            f"area={folder}",
            "--meta",
            f"year={year}",
            "--no-progress",
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return data


@pytest.fixture(scope="module")
def base_url(data_dir: Path) -> Iterator[str]:
    with backend(data_dir.parent, DATA_DIR=str(data_dir), MAX_NEW_TOKENS="24") as url:
        yield url


def test_stats_counts_chunks_per_metadata_value(data_dir: Path) -> None:
    stats = json.loads(ragchat(data_dir, "stats", "--json").stdout)
    sections = stats["metadata"]["area"]["values"]
    assert set(sections) == {"library", "howto"} and all(n > 0 for n in sections.values())
    years = stats["metadata"]["year"]["values"]
    assert years == {"2024": sections["library"], "2023": sections["howto"]}
    assert stats["chunks"] == sum(sections.values())


def test_index_stats_route_gives_value_counts(base_url: str) -> None:
    stats = httpx.get(f"{base_url}/index/stats", timeout=30).json()
    assert set(stats) == {"total_chunks", "sources", "metadata"}
    assert set(stats["metadata"]["area"]) == {"library", "howto"}


def test_retrieve_returns_typed_metadata_and_respects_the_filter(base_url: str) -> None:
    retrieve = RemoteRunnable(f"{base_url}/retrieve", timeout=60)
    hits = retrieve.invoke(
        {
            "query": "create a temporary file securely",
            "k": 5,
            "filter": {"year": {"$gte": 2024}},
            "mode": "hybrid",
        }
    )
    assert len(hits) == 5
    assert all(h["metadata"]["year"] == 2024 and h["metadata"]["area"] == "library" for h in hits)
    assert hits[0]["metadata"]["source"] == "samples/library/tempfile.html"
    assert isinstance(hits[0]["metadata"]["chunk"], int)


def test_filtered_rag_cites_only_matching_sources(base_url: str) -> None:
    rag = RemoteRunnable(f"{base_url}/filtered_rag", timeout=120)
    answer = rag.invoke(
        {
            "question": "How do I sort a list of tuples by the second item?",
            "username": "rag-user",
            "filter": {"area": "howto"},
        }
    )
    sources = answer["sources"]
    assert sources and all(s["source"].startswith("samples/howto/") for s in sources)
    assert answer["answer"].strip() and answer["message_id"]


def test_chat_sends_the_sources_before_the_first_answer_token(base_url: str) -> None:
    arrivals: list[tuple[float, dict]] = []
    started = time.perf_counter()
    for chunk in RemoteRunnable(f"{base_url}/chat", timeout=120).stream(
        {"question": "What does tempfile.mkstemp return?", "username": "rag-user"}
        | {"session_id": "chat-1"}
    ):
        arrivals.append((time.perf_counter() - started, chunk))
    chunks = [chunk for _, chunk in arrivals]
    first_token = next(i for i, c in enumerate(chunks) if c.get("answer"))
    assert list(chunks[0]) == ["sources"] and first_token > 0
    sources = chunks[0]["sources"]
    assert sources and {s["number"] for s in sources} == set(range(1, len(sources) + 1))
    assert sources[0]["source"] == "samples/library/tempfile.html"
    assert arrivals[0][0] < arrivals[first_token][0]  # on the wire before the model spoke
    assert len([c for c in chunks if c.get("answer")]) > 3
    assert set(chunks[-1]) == {"message_id", "session_id"}  # the ids close the stream


def test_bad_filters_are_422_naming_the_problem(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/chat/invoke",
        json={"input": {"question": "q", "username": "u", "filter": {"year": {"$regex": "20.*"}}}},
        timeout=30,
    )
    assert response.status_code == 422 and "$regex" in response.text


def test_reingest_is_idempotent_and_delete_removes_a_source(data_dir: Path) -> None:
    before = json.loads(ragchat(data_dir, "stats", "--json").stdout)
    again = ragchat(
        data_dir,
        "ingest",
        "samples/howto",
        "--meta",
        "area=howto",
        "--meta",
        "year=2023",
        "--no-progress",
    )
    assert again.returncode == 0
    after = json.loads(ragchat(data_dir, "stats", "--json").stdout)
    assert after["chunks"] == before["chunks"]
    deleted = ragchat(data_dir, "ingest", "--delete", "samples/howto/sorting.pdf")
    assert deleted.returncode == 0
    final = json.loads(ragchat(data_dir, "stats", "--json").stdout)
    assert final["chunks"] < after["chunks"]
