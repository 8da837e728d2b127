"""The OpenAI-compatible route in process (TestClient, fake LLM): response shapes, streaming,
history, filters, max_tokens and sources."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.api.openai_fakes import (
    ask,
    fake_resources,
    stream_chunks,
)
from tests.conftest import FAKE_ANSWER

URL = "/v1/chat/completions"
MODELS = ["ragchat-simple", "ragchat-formatted", "ragchat-rag", "ragchat-chat"]


@pytest.fixture
def resources(settings: Settings) -> Resources:
    return fake_resources(settings)


@pytest.fixture
def client(settings: Settings, resources: Resources) -> Iterator[TestClient]:
    with TestClient(create_app(settings, resources)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(module_settings: Settings) -> Iterator[TestClient]:
    """One app for the tests that look only at responses: the OpenAI route stores nothing
    (test_messages_are_the_history_and_nothing_is_stored checks it with its own app)."""
    with TestClient(create_app(module_settings, fake_resources(module_settings))) as test_client:
        yield test_client


def test_models_list_every_stage(shared_client: TestClient) -> None:
    body = shared_client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == MODELS
    assert all(m["object"] == "model" and m["owned_by"] == "ragchat" for m in body["data"])
    assert shared_client.get("/v1/models/ragchat-rag").json()["id"] == "ragchat-rag"
    assert shared_client.get("/v1/models/gpt-4").json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("model", MODELS)
def test_completion_object_shape(shared_client: TestClient, model: str) -> None:
    response = shared_client.post(URL, json=ask(model=model))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == model and isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith(FAKE_ANSWER)
    if model in ("ragchat-rag", "ragchat-chat"):
        assert [s["title"] for s in body["sources"]] == ["Cats", "Dogs", "Parrots"]
        assert choice["message"]["content"].endswith(
            "\n\nSources:\n[1] Cats — pets/cats.md\n[2] Dogs — pets/dogs.md\n"
            "[3] Parrots — pets/parrots.md"
        )
    else:
        assert "sources" not in body and choice["message"]["content"] == FAKE_ANSWER


def test_missing_model_means_ragchat_chat(client: TestClient, resources: Resources) -> None:
    body = client.post(URL, json=ask()).json()
    assert body["model"] == "ragchat-chat"
    assert resources.retriever.calls[-1]["mode"] == "hybrid"


@pytest.mark.parametrize("model", ["ragchat-simple", "ragchat-chat"])
def test_stream_in_openai_chunk_format(shared_client: TestClient, model: str) -> None:
    response = shared_client.post(URL, json=ask(model=model, stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    raw = stream_chunks(response.text)
    assert raw[-1] == "[DONE]"
    chunks = [json.loads(item) for item in raw[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == model for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    contents = [d["content"] for d in deltas[1:-1]]
    assert len(contents) > 3
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + [
        "stop"
    ]
    assert deltas[-1] == {}
    non_streamed = shared_client.post(URL, json=ask(model=model)).json()
    assert "".join(contents) == non_streamed["choices"][0]["message"]["content"]
    assert chunks[-1].get("sources") == non_streamed.get("sources")


HISTORY = [
    {"role": "system", "content": "You are a pirate."},
    {"role": "user", "content": "My cat is called Tom."},
    {"role": "assistant", "content": [{"type": "text", "text": "Nice name."}]},
    {"role": "user", "content": "What is my cat called?"},
]


def test_messages_are_the_history_and_nothing_is_stored(
    client: TestClient, resources: Resources
) -> None:
    body = {"model": "ragchat-chat", "messages": HISTORY}
    assert client.post(URL, json=body).status_code == 200
    # The small style (the embedded model's) names the earlier question in the last turn.
    *_, last = resources.llm.seen[-1]
    assert "Earlier question: My cat is called Tom.\nQuestion: What is my cat called?" in (
        last.content
    )
    assert not any("pirate" in str(m.content) for m in resources.llm.seen[-1])
    assert resources.history.used == []
    simple = client.post(URL, json={"model": "ragchat-simple", "messages": HISTORY})
    assert simple.status_code == 200
    assert [m.content for m in resources.llm.seen[-1]] == ["What is my cat called?"]


def test_the_large_prompt_style_reads_the_history_as_chat_turns(settings: Settings) -> None:
    large = settings.model_copy(update={"prompt_style": "large"})
    resources = fake_resources(large)
    with TestClient(create_app(large, resources)) as client:
        assert (
            client.post(URL, json={"model": "ragchat-chat", "messages": HISTORY}).status_code == 200
        )
    prompt = resources.llm.seen[-1]
    assert [m.content for m in prompt[1:3]] == ["My cat is called Tom.", "Nice name."]
    assert [m.type for m in prompt] == ["system", "human", "ai", "human"]
    assert prompt[-1].content.endswith("Question: What is my cat called?")
    assert not any("pirate" in str(m.content) for m in prompt)


@pytest.mark.parametrize(
    "extra",
    [
        {"filter": {"year": {"$gte": 2024}}},
        {"metadata": {"filter": {"year": {"$gte": 2024}}}},
        {"metadata": {"filter": json.dumps({"year": {"$gte": 2024}})}},
    ],
)
def test_filter_reaches_the_retriever(
    client: TestClient, resources: Resources, extra: dict[str, Any]
) -> None:
    body = client.post(URL, json=ask(model="ragchat-chat", k=2, **extra)).json()
    call = resources.retriever.calls[-1]
    assert call["filter"] == {"year": {"$gte": 2024}} and call["k"] == 2
    assert [s["title"] for s in body["sources"]] == ["Dogs", "Parrots"]


@pytest.mark.parametrize("model", ["ragchat-simple", "ragchat-chat"])
def test_max_tokens_cuts_the_answer_and_keeps_sources(
    shared_client: TestClient, model: str
) -> None:
    body = shared_client.post(URL, json=ask(model=model, max_tokens=2)).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"].startswith("Paris ")
    assert not choice["message"]["content"].startswith("Paris is")
    assert (model == "ragchat-chat") == ("sources" in body and len(body["sources"]) == 3)


def test_max_tokens_is_capped_by_the_server(settings: Settings, resources: Resources) -> None:
    capped = settings.model_copy(update={"max_new_tokens": 3})
    with TestClient(create_app(capped, resources)) as client:
        body = client.post(URL, json=ask(model="ragchat-simple", max_tokens=1000)).json()
    assert body["choices"][0]["message"]["content"] == "Paris is"
    assert body["choices"][0]["finish_reason"] == "length"


def test_sources_footer_can_be_turned_off(shared_client: TestClient) -> None:
    body = shared_client.post(URL, json=ask(model="ragchat-rag", sources_footer=False)).json()
    assert body["choices"][0]["message"]["content"] == FAKE_ANSWER
    assert len(body["sources"]) == 3


def test_openapi_documents_the_v1_routes(shared_client: TestClient) -> None:
    paths = shared_client.get("/openapi.json").json()["paths"]
    assert "/v1/chat/completions" in paths and "/v1/models" in paths
