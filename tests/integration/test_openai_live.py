"""The official `openai` client against a live uvicorn on loopback: the real local model,
a fake retriever (tests.api.openai_fakes.live_app) so the filter's arrival can be seen."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.utils.processes import backend

pytestmark = pytest.mark.integration

MODELS = ["ragchat-simple", "ragchat-formatted", "ragchat-rag", "ragchat-chat"]
RECENT = {"year": {"$gte": 2024}}


@contextmanager
def openai_backend(tmp: Path, factory: str = "live_app", **env: str) -> Iterator[str]:
    """An app factory of tests.api.openai_fakes behind uvicorn (tests.utils.processes.backend);
    the server's output goes to `tmp/backend-<port>.log`."""
    with backend(
        tmp, app=f"tests.api.openai_fakes:{factory}", **{"MAX_NEW_TOKENS": "16", **env}
    ) as url:
        yield url


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAI]:
    with openai_backend(tmp_path_factory.mktemp("openai")) as url:
        yield OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_models_list(client: OpenAI) -> None:
    assert [model.id for model in client.models.list()] == MODELS


def test_non_streaming_completion(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="ragchat-formatted", messages=[{"role": "user", "content": "Name a colour."}]
    )
    assert completion.object == "chat.completion" and completion.model == "ragchat-formatted"
    (choice,) = completion.choices
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")


def test_stream_arrives_token_by_token(client: OpenAI) -> None:
    start = time.perf_counter()
    arrivals: list[tuple[float, str | None, str | None]] = []
    stream = client.chat.completions.create(
        model="ragchat-formatted",
        stream=True,
        max_tokens=24,
        messages=[
            {"role": "user", "content": "I like cats."},
            {"role": "assistant", "content": "Cats are lovely."},
            {"role": "user", "content": "Write two sentences about cats."},
        ],
    )
    for chunk in stream:
        choice = chunk.choices[0]
        arrivals.append((time.perf_counter() - start, choice.delta.content, choice.finish_reason))
    texts = [(at, text) for at, text, _ in arrivals if text]
    assert len(texts) > 3, arrivals
    assert [finish for *_, finish in arrivals[:-1]] == [None] * (len(arrivals) - 1)
    assert arrivals[-1][2] in ("stop", "length")
    # Chunks leave as they are generated: a buffered answer would arrive all at once.
    assert texts[-1][0] - texts[0][0] > 0.05, texts


def test_rag_filter_passes_through_and_sources_come_back(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="ragchat-chat",
        max_tokens=8,
        messages=[{"role": "user", "content": "Which pets are there?"}],
        extra_body={"filter": RECENT},
    )
    sources = completion.model_extra["sources"]
    assert [s["title"] for s in sources] == ["Dogs", "Parrots"]
    assert all(json.loads(s["metadata"]["received_filter"]) == RECENT for s in sources)
    assert completion.choices[0].message.content.endswith(
        "\n\nSources:\n[1] Dogs — pets/dogs.md\n[2] Parrots — pets/parrots.md"
    )


def test_rag_stream_ends_with_sources_on_the_final_chunk(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="ragchat-chat",
            stream=True,
            max_tokens=8,
            messages=[{"role": "user", "content": "Which pets are there?"}],
            metadata={"filter": json.dumps({"year": 2023})},
        )
    )
    final = chunks[-1]
    assert final.choices[0].finish_reason in ("stop", "length")
    assert [s["title"] for s in final.model_extra["sources"]] == ["Cats"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.endswith("\n\nSources:\n[1] Cats — pets/cats.md")
    assert all("sources" not in (c.model_extra or {}) for c in chunks[:-1])


def test_errors_arrive_as_the_sdk_exceptions(client: OpenAI) -> None:
    hello = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=hello)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="ragchat-simple", messages=[])
    assert empty.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as bad_filter:
        client.chat.completions.create(
            model="ragchat-chat", messages=hello, extra_body={"filter": {"year": {"$near": 1}}}
        )
    assert "$near" in bad_filter.value.message


def test_api_keys_are_required_when_configured(tmp_path: Path) -> None:
    with openai_backend(tmp_path, API_KEYS="alice:sk-alice-1") as url:
        anonymous = OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0, timeout=60)
        with pytest.raises(openai.AuthenticationError) as refused:
            anonymous.models.list()
        assert refused.value.code == "invalid_api_key"
        alice = OpenAI(base_url=f"{url}/v1", api_key="sk-alice-1", max_retries=0, timeout=60)
        completion = alice.chat.completions.create(
            model="ragchat-simple", max_tokens=4, messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.choices[0].message.content


def test_a_client_that_leaves_stops_the_generation(tmp_path: Path) -> None:
    """The slow fake model prints each token; after the client hangs up, no more come."""
    with openai_backend(tmp_path, factory="slow_fake_app") as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)
        stream = client.chat.completions.create(
            model="ragchat-simple",
            stream=True,
            messages=[{"role": "user", "content": "Say 'word' 400 times."}],
        )
        received = [chunk for chunk, _ in zip(stream, range(4), strict=False)]
        stream.close()
        log = next(tmp_path.glob("backend-*.log"))
        deadline = time.monotonic() + 10
        while "fake model: closed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        output = log.read_text()
    assert len(received) == 4
    assert "fake model: closed" in output
    # 400 tokens at 20 ms would take 8 s; a stream cancelled at once stops far earlier.
    assert output.count("fake model: token") < 100, output.count("fake model: token")


@pytest.mark.slow
def test_real_index_filter_end_to_end(tmp_path: Path) -> None:
    """Ingest two files with different metadata, then ask through the SDK with a filter."""
    from chains.ingest.pipeline import ingest
    from settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cats.md").write_text("# Cats\n\nCats sleep about sixteen hours a day.\n")
    (docs / "dogs.md").write_text("# Dogs\n\nDogs need a walk twice a day.\n")
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    ingest(settings, [docs / "cats.md"], meta={"year": 2023}, progress=False)
    ingest(settings, [docs / "dogs.md"], meta={"year": 2024}, progress=False)
    with openai_backend(tmp_path, factory="real_app") as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
        reply = client.chat.completions.create(
            model="ragchat-chat",
            max_tokens=8,
            messages=[{"role": "user", "content": "How long do animals sleep?"}],
            extra_body={"filter": {"year": 2024}},
        )
    sources = reply.model_extra["sources"]
    assert sources and all(s["metadata"]["year"] == 2024 for s in sources), sources
    assert all("dogs" in s["source"] for s in sources)
    assert "\n\nSources:\n[1] " in reply.choices[0].message.content
