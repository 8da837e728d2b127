"""The OpenAI-compatible route in process (TestClient, fake chat model): shapes, limits, errors."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field, SecretStr

from chains.llm import LLMUnavailable
from graph.resources import Resources
from settings import Settings
from tests.api.openai_fakes import FakeHistoryStore, FakeRetriever, auth_dependency, openai_app
from tests.conftest import FAKE_ANSWER, FakeChatModel

URL = "/v1/chat/completions"
MODELS = ["ragchat-simple", "ragchat-formatted", "ragchat-rag", "ragchat-chat"]


class RecordingFakeChatModel(FakeChatModel):
    """Fake LLM that keeps the messages of every call, to check what reached the prompt."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self.seen.append(list(messages))
        yield from super()._stream(messages, stop, run_manager, **kwargs)


class BreaksMidStream(FakeChatModel):
    """Fake LLM that fails after two tokens."""

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for index, chunk in enumerate(super()._stream(*args, **kwargs)):
            if index == 2:
                raise RuntimeError("secret internals fell over")
            yield chunk


class Unreachable(FakeChatModel):
    """Fake LLM whose provider cannot be reached."""

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise LLMUnavailable("endpoint: connection refused")


def recording_llm() -> RecordingFakeChatModel:
    return RecordingFakeChatModel(messages=itertools.cycle([AIMessage(content=FAKE_ANSWER)]))


@pytest.fixture
def resources(settings: Settings) -> Resources:
    return Resources(settings=settings, llm=recording_llm(), retriever=FakeRetriever(),
                     history=FakeHistoryStore())  # type: ignore[arg-type]


@pytest.fixture
def client(settings: Settings, resources: Resources) -> Iterator[TestClient]:
    with TestClient(openai_app(settings, resources)) as test_client:
        yield test_client


def ask(text: str = "Which pets?", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def stream_chunks(body: str) -> list[Any]:
    """OpenAI's SSE framing exactly: `data: <json>` events separated by a blank line."""
    events = body.split("\n\n")
    assert events[-1] == "", "the stream must end with a blank line"
    assert all(event.startswith("data: ") for event in events[:-1]), events
    return [e.removeprefix("data: ") for e in events[:-1]]


def test_models_list_every_stage(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == MODELS
    assert all(m["object"] == "model" and m["owned_by"] == "ragchat" for m in body["data"])
    assert client.get("/v1/models/ragchat-rag").json()["id"] == "ragchat-rag"
    assert client.get("/v1/models/gpt-4").json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("model", MODELS)
def test_completion_object_shape(client: TestClient, model: str) -> None:
    response = client.post(URL, json=ask(model=model))
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
def test_stream_in_openai_chunk_format(client: TestClient, model: str) -> None:
    response = client.post(URL, json=ask(model=model, stream=True))
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
    non_streamed = client.post(URL, json=ask(model=model)).json()
    assert "".join(contents) == non_streamed["choices"][0]["message"]["content"]
    assert chunks[-1].get("sources") == non_streamed.get("sources")


def test_messages_are_the_history_and_nothing_is_stored(
    client: TestClient, resources: Resources
) -> None:
    messages = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "My cat is called Tom."},
        {"role": "assistant", "content": [{"type": "text", "text": "Nice name."}]},
        {"role": "user", "content": "What is my cat called?"},
    ]
    assert client.post(URL, json={"model": "ragchat-chat", "messages": messages}).status_code == 200
    prompt = resources.llm.seen[-1]  # the answer's call; the one before condensed the question
    contents = [m.content for m in prompt]
    assert contents[-3:] == ["My cat is called Tom.", "Nice name.", "What is my cat called?"]
    assert [m.type for m in prompt[-3:]] == ["human", "ai", "human"]
    assert not any("pirate" in str(c) for c in contents)
    assert resources.history.used == []
    simple = client.post(URL, json={"model": "ragchat-simple", "messages": messages})
    assert simple.status_code == 200
    assert [m.content for m in resources.llm.seen[-1]] == ["What is my cat called?"]


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


@pytest.mark.parametrize(
    ("extra", "param", "expected"),
    [
        ({"filter": {"year": {"$regex": "x"}}}, "filter", "$regex"),
        ({"metadata": {"filter": "{not json"}}, "metadata.filter", "not valid JSON"),
        ({"filter": {"a": 1}, "metadata": {"filter": {"a": 1}}}, "filter", "once"),
        ({"model": "ragchat-rag", "filter": {"a": 1}}, "filter", "ragchat-chat"),
        ({"model": "ragchat-simple", "k": 3}, "k", "does not take 'k'"),
        ({"k": 10_000}, "k", "limit"),
        ({"n": 2}, "n", "n > 1"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "tools"),
        ({"stop": ["\n"]}, "stop", "stop sequences"),
        ({"response_format": {"type": "json_object"}}, "response_format", "text"),
        ({"stream": "maybe"}, "stream", "boolean"),
        ({"user": "eve\nforged log line"}, "user", "control character"),
    ],
)
def test_unsupported_or_invalid_requests_are_openai_400s(
    client: TestClient, extra: dict[str, Any], param: str, expected: str
) -> None:
    response = client.post(URL, json=ask(**extra))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert expected in error["message"]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], "at least 1"),
        ([{"role": "assistant", "content": "hi"}], "last message must be from the user"),
        ([{"role": "user", "content": "   "}], "must not be empty"),
        ([{"role": "user", "content": "a\x00b"}], "control character"),
        ([{"role": "user", "content": "x" * 4001}], "4000"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
         "only text content"),
        ([{"role": "tool", "content": "42", "tool_call_id": "t"}, {"role": "user", "content": "q"}],
         "tool"),
        ([{"role": "wizard", "content": "hi"}], "role"),
    ],
)
def test_bad_messages_are_400s(client: TestClient, messages: list, expected: str) -> None:
    response = client.post(URL, json={"messages": messages})
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]["message"]


def test_unknown_model_is_a_404_model_not_found(client: TestClient) -> None:
    response = client.post(URL, json=ask(model="gpt-4o"))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": response.json()["error"]["message"], "type": "invalid_request_error",
        "code": "model_not_found", "param": "model",
    }
    assert "ragchat-chat" in response.json()["error"]["message"]


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(URL, content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize("model", ["ragchat-simple", "ragchat-chat"])
def test_max_tokens_cuts_the_answer_and_keeps_sources(client: TestClient, model: str) -> None:
    body = client.post(URL, json=ask(model=model, max_tokens=2)).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"].startswith("Paris ")
    assert not choice["message"]["content"].startswith("Paris is")
    assert (model == "ragchat-chat") == ("sources" in body and len(body["sources"]) == 3)


def test_max_tokens_is_capped_by_the_server(settings: Settings, resources: Resources) -> None:
    capped = settings.model_copy(update={"max_new_tokens": 3})
    with TestClient(openai_app(capped, resources)) as client:
        body = client.post(URL, json=ask(model="ragchat-simple", max_tokens=1000)).json()
    assert body["choices"][0]["message"]["content"] == "Paris is"
    assert body["choices"][0]["finish_reason"] == "length"


def test_sources_footer_can_be_turned_off(client: TestClient) -> None:
    body = client.post(URL, json=ask(model="ragchat-rag", sources_footer=False)).json()
    assert body["choices"][0]["message"]["content"] == FAKE_ANSWER
    assert len(body["sources"]) == 3


def test_api_keys_decide_the_user(
    settings: Settings, resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    keyed = settings.model_copy(update={"api_keys": SecretStr("alice:sk-alice")})
    app = openai_app(keyed, resources, [auth_dependency(keyed)])
    with TestClient(app) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}):
            refused = client.post(URL, json=ask(), headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
            assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/v1/models").status_code == 401
        with caplog.at_level(logging.INFO, logger="ragchat.openai"):
            ok = client.post(URL, json=ask(user="mallory"),
                             headers={"authorization": "Bearer sk-alice"})
    assert ok.status_code == 200
    assert "user=alice" in caplog.text and "mallory" not in caplog.text


def test_llm_unavailable_before_the_first_token_is_a_503(settings: Settings) -> None:
    llm = Unreachable(messages=itertools.cycle([AIMessage(content="x")]))
    app = openai_app(settings, Resources(settings=settings, llm=llm, retriever=FakeRetriever()))
    with TestClient(app) as client:
        for stream in (False, True):
            response = client.post(URL, json=ask(model="ragchat-simple", stream=stream))
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["type"] == "server_error" and "unavailable" in error["message"]


def test_failure_mid_stream_is_an_error_event(settings: Settings) -> None:
    llm = BreaksMidStream(messages=itertools.cycle([AIMessage(content="one two three four")]))
    app = openai_app(settings, Resources(settings=settings, llm=llm))
    with TestClient(app, raise_server_exceptions=False) as client:
        streamed = client.post(URL, json=ask(model="ragchat-simple", stream=True))
        whole = client.post(URL, json=ask(model="ragchat-simple"))
    raw = stream_chunks(streamed.text)
    assert streamed.status_code == 200 and "[DONE]" not in raw
    assert json.loads(raw[1])["choices"][0]["delta"] == {"content": "one"}
    assert json.loads(raw[-1])["error"]["message"] == "internal server error"
    assert whole.status_code == 500 and whole.json()["error"]["type"] == "server_error"
    assert "secret internals" not in streamed.text + whole.text


def test_oversized_body_is_refused(client: TestClient, settings: Settings) -> None:
    response = client.post(URL, json=ask("x" * settings.max_body_bytes))
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.text


def test_openapi_documents_the_v1_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/chat/completions" in paths and "/v1/models" in paths
