"""The OpenAI-compatible route in process: refusals, auth, failures and cancellation, all in
OpenAI's error shape."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import anyio
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage
from pydantic import SecretStr

from api.langserve_stream import stage_runnable
from api.openai.request import parse_chat_request
from api.openai.routes import openai_router
from api.openai.schemas import ChatCompletionRequest
from api.openai.stream import answer_events
from chains.prompts import NO_PASSAGES_ANSWER
from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.api.openai_fakes import (
    FakeRetriever,
    Unreachable,
    access_users,
    ask,
    fake_resources,
    recording_llm,
    slow_fake_model,
    stream_chunks,
)
from tests.conftest import BreaksMidStream
from tests.utils.index_states import unreadable_index

URL = "/v1/chat/completions"


@pytest.fixture
def resources(settings: Settings) -> Resources:
    return fake_resources(settings)


@pytest.fixture
def client(settings: Settings, resources: Resources) -> Iterator[TestClient]:
    with TestClient(create_app(settings, resources)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(module_settings: Settings) -> Iterator[TestClient]:
    """One app for the requests refused before anything runs (nothing stored, no model)."""
    with TestClient(create_app(module_settings, fake_resources(module_settings))) as test_client:
        yield test_client


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
    shared_client: TestClient, extra: dict[str, Any], param: str, expected: str
) -> None:
    response = shared_client.post(URL, json=ask(**extra))
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
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "only text content",
        ),
        (
            [
                {"role": "tool", "content": "42", "tool_call_id": "t"},
                {"role": "user", "content": "q"},
            ],
            "tool",
        ),
        ([{"role": "wizard", "content": "hi"}], "role"),
    ],
)
def test_bad_messages_are_400s(shared_client: TestClient, messages: list, expected: str) -> None:
    response = shared_client.post(URL, json={"messages": messages})
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]["message"]


def test_unknown_model_is_a_404_model_not_found(shared_client: TestClient) -> None:
    response = shared_client.post(URL, json=ask(model="gpt-4o"))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": response.json()["error"]["message"],
        "type": "invalid_request_error",
        "code": "model_not_found",
        "param": "model",
    }
    assert "ragchat-chat" in response.json()["error"]["message"]


def test_malformed_json_is_a_400(shared_client: TestClient) -> None:
    response = shared_client.post(
        URL, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


def test_api_keys_decide_the_user(
    settings: Settings, resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    keyed = settings.model_copy(update={"api_keys": SecretStr("alice:sk-alice")})
    app = create_app(keyed, resources)
    with TestClient(app) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}):
            refused = client.post(URL, json=ask(), headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
            assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/v1/models").status_code == 401
        with caplog.at_level(logging.INFO, logger="ragchat.access"):
            ok = client.post(
                URL, json=ask(user="mallory"), headers={"authorization": "Bearer sk-alice"}
            )
    assert ok.status_code == 200
    assert access_users(caplog) == ["alice"]


def test_without_keys_the_body_user_names_the_caller_in_the_access_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ragchat.access"):
        client.post(URL, json=ask(model="ragchat-simple", user="carol", stream=True))
        client.post(URL, json=ask(model="ragchat-simple"))
    entries = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ragchat.access"]
    assert [e["user"] for e in entries] == ["carol", None]
    assert all(e["tokens"] > 3 and e["route"] == URL for e in entries)


def test_dependency_errors_keep_status_and_headers(
    settings: Settings, resources: Resources
) -> None:
    async def over_the_rate_limit() -> None:
        raise HTTPException(429, "slow down", headers={"Retry-After": "7"})

    app = FastAPI()
    app.include_router(openai_router(settings, resources, [Depends(over_the_rate_limit)]))
    with TestClient(app) as client:
        response = client.post(URL, json=ask())
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.json()["error"] == {
        "message": "slow down",
        "type": "requests",
        "code": "rate_limit_exceeded",
        "param": None,
    }


def test_llm_unavailable_before_the_first_token_is_a_503(settings: Settings) -> None:
    llm = Unreachable(messages=itertools.cycle([AIMessage(content="x")]))
    app = create_app(settings, Resources(settings=settings, llm=llm, retriever=FakeRetriever()))
    with TestClient(app) as client:
        for stream in (False, True):
            response = client.post(URL, json=ask(model="ragchat-simple", stream=stream))
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["type"] == "server_error" and "unavailable" in error["message"]


def test_an_unreadable_index_is_a_503_for_rag_models_only(settings: Settings) -> None:
    unreadable_index(settings.index_dir)
    app = create_app(settings, Resources(settings=settings, llm=recording_llm()))
    with TestClient(app) as client:
        for stream in (False, True):
            response = client.post(URL, json=ask(model="ragchat-rag", stream=stream))
            assert response.status_code == 503, response.text
            assert "index" in response.json()["error"]["message"]
        assert client.post(URL, json=ask(model="ragchat-formatted")).status_code == 200


def test_a_fresh_deployment_without_documents_answers_that_they_hold_nothing(
    settings: Settings,
) -> None:
    llm = recording_llm()
    app = create_app(settings, Resources(settings=settings, llm=llm))  # no index folder yet
    with TestClient(app) as client:
        response = client.post(URL, json=ask(model="ragchat-rag"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == NO_PASSAGES_ANSWER
    assert body["sources"] == []


def test_failure_mid_stream_is_an_error_event(settings: Settings) -> None:
    llm = BreaksMidStream(messages=itertools.cycle([AIMessage(content="one two three four")]))
    app = create_app(settings, Resources(settings=settings, llm=llm))
    with TestClient(app, raise_server_exceptions=False) as client:
        streamed = client.post(URL, json=ask(model="ragchat-simple", stream=True))
        whole = client.post(URL, json=ask(model="ragchat-simple"))
    raw = stream_chunks(streamed.text)
    assert streamed.status_code == 200 and "[DONE]" not in raw
    assert json.loads(raw[1])["choices"][0]["delta"] == {"content": "one"}
    assert json.loads(raw[-1])["error"]["message"] == "internal server error"
    assert whole.status_code == 500 and whole.json()["error"]["type"] == "server_error"
    assert "secret internals" not in streamed.text + whole.text


async def test_a_cancelled_response_stops_the_model(settings: Settings) -> None:
    """Starlette cancels a response whose client left through an anyio cancel scope;
    the model must stop then, not generate to the end for nobody."""
    llm = slow_fake_model()
    options = STAGES["rag"]
    resources = Resources(settings=settings, llm=llm, retriever=FakeRetriever())
    runnable = stage_runnable(build_graph(replace(options, persist=False), resources), options)
    body = ChatCompletionRequest.model_validate(ask(model="ragchat-rag"))
    run = parse_chat_request(body, settings, authenticated_user=None)

    async def consume() -> None:
        async for _ in answer_events(runnable, run, "127.0.0.1"):
            pass

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        while llm.events.count("token") < 3:
            await asyncio.sleep(0.01)
        group.cancel_scope.cancel()
    await asyncio.sleep(0.3)
    assert llm.events[-1] == "closed" and llm.events.count("token") < 10, llm.events


def test_oversized_body_is_refused(client: TestClient, settings: Settings) -> None:
    body = json.dumps(ask("x" * settings.max_body_bytes)).encode()

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield from (body[i : i + 65536] for i in range(0, len(body), 65536))

    for content in (body, chunked()):
        response = client.post(URL, content=content, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert "MAX_BODY_BYTES" in response.text
