"""The HTTP surface in process (TestClient), with a fake chat model: routes, schemas, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FAKE_ANSWER, BreaksMidStream, fake_chat_model, sse_events


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, Resources(settings=settings, llm=fake_chat_model()))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(module_settings: Settings) -> Iterator[TestClient]:
    """One app for the tests that only read or are refused: nothing is stored."""
    app = create_app(module_settings, Resources(settings=module_settings, llm=fake_chat_model()))
    with TestClient(app) as test_client:
        yield test_client


def test_root_answers_hello_world(shared_client: TestClient) -> None:
    assert shared_client.get("/").json() == {"Hello": "World!"}


def test_health_reports_provider_model_and_load_state(shared_client: TestClient) -> None:
    body = shared_client.get("/health").json()
    assert body["llm"]["provider"] == "local"
    assert body["llm"]["model"] == "smollm2-135m"  # the preset the settings fixture names
    assert body["llm"]["loaded"] is True


def test_health_names_the_default_model_and_a_gguf_by_its_file_name_only() -> None:
    from api.routes.health import model_label

    assert model_label(Settings(_env_file=None)) == "qwen2.5-coder-1.5b"  # type: ignore[call-arg]
    path = Settings(llm_model="/srv/secret/place/mine.Q4_K_M.gguf", _env_file=None)  # type: ignore[call-arg]
    assert model_label(path) == "mine.Q4_K_M.gguf"


@pytest.mark.parametrize("stage", ["simple", "formatted"])
def test_invoke_returns_the_answer_text(client: TestClient, stage: str) -> None:
    response = client.post(f"/{stage}/invoke", json={"input": {"question": "Capital of France?"}})
    assert response.status_code == 200, response.text
    assert response.json()["output"] == FAKE_ANSWER


def test_batch_returns_one_output_per_input(client: TestClient) -> None:
    response = client.post("/simple/batch", json={"inputs": [{"question": "a"}, {"question": "b"}]})
    assert response.status_code == 200, response.text
    assert response.json()["output"] == [FAKE_ANSWER, FAKE_ANSWER]


def test_stream_sends_the_answer_in_several_data_events(client: TestClient) -> None:
    response = client.post("/simple/stream", json={"input": {"question": "hi"}})
    events = sse_events(response.text)
    chunks = [json.loads(e["data"]) for e in events if e.get("event") == "data"]
    assert len(chunks) > 3
    assert "".join(chunks) == FAKE_ANSWER
    assert events[-1]["event"] == "end"


def test_formatted_prompt_carries_the_system_prompt(client: TestClient) -> None:
    response = client.post("/formatted/stream_events", json={"input": {"question": "hi"}})
    events = [json.loads(e["data"]) for e in sse_events(response.text) if e.get("event") == "data"]
    starts = [e for e in events if e["event"] == "on_chat_model_start"]
    assert starts, "the chat model never started"
    messages = json.dumps(starts[0]["data"]["input"])
    assert "You are ragchat" in messages and "hi" in messages
    simple = client.post("/simple/stream_events", json={"input": {"question": "hi"}})
    assert "You are ragchat" not in simple.text


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, "question"),
        ({"question": 42}, "string"),
        ({"question": "   "}, "must not be empty"),
        ({"question": "x" * 4001}, "4000"),
        ({"question": "a\x00b"}, "control character"),
        ({"question": "ok", "unexpected": 1}, "Extra inputs"),
    ],
)
def test_bad_questions_get_a_readable_422(
    shared_client: TestClient, payload: dict[str, Any], expected: str
) -> None:
    response = shared_client.post("/simple/invoke", json={"input": payload})
    assert response.status_code == 422
    assert expected in response.text


def test_malformed_json_is_a_422(shared_client: TestClient) -> None:
    response = shared_client.post(
        "/simple/invoke", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_openapi_document_lists_every_stage(shared_client: TestClient) -> None:
    spec = shared_client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for stage in ["simple", "formatted", "history", "rag", "filtered_rag", "chat"]:
        assert f"/{stage}/invoke" in spec["paths"]
        assert f"/{stage}/stream_log" in spec["paths"]  # the playground runs through it
    assert shared_client.get("/docs").status_code == 200


def test_input_schema_shows_the_question_limit(shared_client: TestClient) -> None:
    schema = shared_client.get("/simple/input_schema").json()
    assert schema["properties"]["question"]["maxLength"] == 4000


def test_batch_over_the_cap_is_refused(client: TestClient, settings: Settings) -> None:
    inputs = [{"question": "q"}] * (settings.max_batch_size + 1)
    response = client.post("/simple/batch", json={"inputs": inputs})
    assert response.status_code == 413
    assert "MAX_BATCH_SIZE" in response.text


def test_body_over_the_limit_is_refused(client: TestClient, settings: Settings) -> None:
    response = client.post(
        "/simple/invoke",
        content=json.dumps({"input": {"question": "x" * settings.max_body_bytes}}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.text


def test_generation_failure_ends_the_stream_with_an_error_event(settings: Settings) -> None:
    import itertools

    from langchain_core.messages import AIMessage

    broken = BreaksMidStream(messages=itertools.cycle([AIMessage(content="one two three four")]))
    app = create_app(settings, Resources(settings=settings, llm=broken))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/simple/stream", json={"input": {"question": "hi"}})
    events = sse_events(response.text)
    kinds = [e["event"] for e in events]
    assert kinds.count("data") >= 1 and kinds[-1] == "error" and "end" not in kinds
    assert "the model fell over" not in response.text  # internals are not leaked
