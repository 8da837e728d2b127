"""Operations in process: one error contract for invoke and stream, /ready, /metrics, request ids.

The LLM here is a fake (these test the server's wiring); tests/integration/test_operations_live.py
runs the same faults against real processes.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import FakeChatModel, fake_chat_model, sse_events
from tests.utils.index_states import empty_index, unreadable_index

ENDPOINT_DOWN = "http://127.0.0.1:1"


def samples(client: TestClient, name: str) -> dict[tuple, float]:
    """{label values: value} of one metric family, read with prometheus' own parser."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[tuple, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_stream_and_stream_events_carry_the_status_and_message_invoke_gives(
    settings: Settings,
) -> None:
    down = settings.model_copy(
        update={"llm_provider": "endpoint", "llm_endpoint_url": ENDPOINT_DOWN}
    )
    with TestClient(create_app(down)) as client:
        body = {"input": {"question": "hello"}}
        invoked = client.post("/formatted/invoke", json=body)
        assert invoked.status_code == 502
        expected = {"status_code": 502, "message": invoked.json()["detail"]}
        for route in ("stream", "stream_events"):
            response = client.post(f"/formatted/{route}", json=body)
            errors = [e for e in sse_events(response.text) if e["event"] == "error"]
            assert errors and json.loads(errors[-1]["data"]) == expected, response.text


class ExplodingChatModel(FakeChatModel):
    """A bug, not a known failure: its message must not reach the client."""

    def _stream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("internal detail: /srv/secret/path")

    async def _astream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("internal detail: /srv/secret/path")
        yield  # an async generator


def test_an_unknown_error_stays_anonymous(settings: Settings) -> None:
    broken = ExplodingChatModel(messages=iter(()))
    with TestClient(create_app(settings, Resources(settings=settings, llm=broken))) as client:
        response = client.post("/simple/stream", json={"input": {"question": "q"}})
        errors = [e for e in sse_events(response.text) if e["event"] == "error"]
        assert json.loads(errors[-1]["data"]) == {
            "status_code": 500,
            "message": "Internal Server Error",
        }


def test_ready_names_what_is_down_and_health_stays_ok(settings: Settings) -> None:
    down = settings.model_copy(
        update={"llm_provider": "endpoint", "llm_endpoint_url": ENDPOINT_DOWN}
    )
    with TestClient(create_app(down)) as client:
        response = client.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready: llm down"  # no index yet is an empty index
        assert body["checks"]["history"]["ok"] is True
        assert "could not be reached" in body["checks"]["llm"]["detail"]
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("state", "status", "detail"),
    [
        ("missing", 200, "local index empty: no documents yet (POST /documents or ragchat ingest)"),
        ("empty", 200, "local index empty: no documents yet (POST /documents or ragchat ingest)"),
        ("unreadable", 503, "the index cannot be read (see the server log)"),
    ],
)
def test_ready_takes_a_missing_or_empty_index_and_refuses_an_unreadable_one(
    settings: Settings, state: str, status: int, detail: str
) -> None:
    """A fresh deployment must get traffic, or nobody can upload its first documents."""
    if state == "empty":
        empty_index(settings.index_dir)
    elif state == "unreadable":
        unreadable_index(settings.index_dir)
    with TestClient(create_app(settings, Resources(settings=settings, llm=fake_chat_model()))) as c:
        response = c.get("/ready")
    assert response.status_code == status, response.text
    index = response.json()["checks"]["index"]
    assert index["detail"] == detail and index["ok"] is (status == 200)
    assert str(settings.data_dir) not in response.text


def test_an_index_that_turns_unreadable_after_start_is_a_503_again(settings: Settings) -> None:
    with TestClient(create_app(settings, Resources(settings=settings, llm=fake_chat_model()))) as c:
        turn = {"input": {"question": "anything?", "username": "ops"}}
        assert c.post("/rag/invoke", json=turn).status_code == 200  # missing: empty
        unreadable_index(settings.index_dir)
        # Refused before the stream starts, so with its status, not a 200 and an error event.
        refused = c.post("/rag/stream", json=turn)
        assert refused.status_code == 503, refused.text
        assert "the document index is unavailable" in refused.json()["detail"]


def test_ready_with_the_local_model_loaded_and_an_index(settings: Settings, tmp_path) -> None:
    from chains.index.chunks import Chunk
    from chains.index.local import LocalHybridIndex

    index = LocalHybridIndex.open(settings.index_dir, create=True)
    index.upsert([Chunk("some text", {"source": "a.md"})], [[1.0, 0.0]])
    resources = Resources(settings=settings, llm=fake_chat_model())
    with TestClient(create_app(settings, resources)) as client:
        response = client.get("/ready")
        assert response.status_code == 200, response.text
        assert set(response.json()["checks"]) == {"llm", "history", "index"}


def test_metrics_count_requests_by_route_template_and_status(settings: Settings) -> None:
    resources = Resources(settings=settings, llm=fake_chat_model())
    with TestClient(create_app(settings, resources)) as client:
        key = (("method", "GET"), ("route", "/health"), ("status", "200"))
        before = samples(client, "ragchat_requests_total").get(key, 0.0)
        for _ in range(3):
            client.get("/health")
        assert samples(client, "ragchat_requests_total")[key] == before + 3
        client.get("/sessions/not-a-session/messages", params={"username": "u"})
        routes = {dict(k)["route"] for k in samples(client, "ragchat_requests_total")}
        assert "/sessions/{session_id}/messages" in routes
        assert not any("not-a-session" in route for route in routes)


def test_metrics_time_the_first_token_and_retrieval_per_stage(settings: Settings) -> None:
    resources = Resources(settings=settings, llm=fake_chat_model())
    with TestClient(create_app(settings, resources)) as client:
        stage = (("stage", "simple"),)
        before = samples(client, "ragchat_time_to_first_token_seconds_count").get(stage, 0.0)
        response = client.post("/simple/stream", json={"input": {"question": "q"}})
        assert response.status_code == 200
        after = samples(client, "ragchat_time_to_first_token_seconds_count")
        assert after[stage] == before + 1
        assert "ragchat_llm_queue_depth" in client.get("/metrics").text


def test_metrics_count_failures_by_cause(settings: Settings) -> None:
    down = settings.model_copy(
        update={"llm_provider": "endpoint", "llm_endpoint_url": ENDPOINT_DOWN}
    )
    with TestClient(create_app(down)) as client:
        before = samples(client, "ragchat_llm_errors_total").get((("cause", "unreachable"),), 0)
        client.post("/simple/invoke", json={"input": {"question": "q"}})
        client.post("/simple/stream", json={"input": {"question": "q"}})
        after = samples(client, "ragchat_llm_errors_total")[(("cause", "unreachable"),)]
        assert after == before + 2


def test_rate_limit_refusals_are_counted(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_minute": 1})
    resources = Resources(settings=limited, llm=fake_chat_model())
    with TestClient(create_app(limited, resources)) as client:
        before = samples(client, "ragchat_rate_limited_total").get((), 0.0)
        statuses = [
            client.post("/simple/invoke", json={"input": {"question": "q"}}).status_code
            for _ in range(3)
        ]
        assert statuses.count(429) == 2
        assert samples(client, "ragchat_rate_limited_total")[()] == before + 2


@pytest.mark.parametrize(
    ("key", "status"), [(None, 401), ("key-bob-123", 403), ("key-ops-123", 200)]
)
def test_metrics_are_for_the_users_metrics_users_names(
    settings: Settings, key: str | None, status: int
) -> None:
    keyed = settings.model_copy(
        update={
            "api_keys": SecretStr("bob:key-bob-123,ops:key-ops-123"),
            "metrics_users": "ops",
        }
    )
    resources = Resources(settings=keyed, llm=fake_chat_model())
    with TestClient(create_app(keyed, resources)) as client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = client.get("/metrics", headers=headers)
        assert response.status_code == status, response.text
        if status == 200:
            assert "ragchat_requests_total" in response.text


def test_the_request_id_is_echoed_or_made(settings: Settings) -> None:
    resources = Resources(settings=settings, llm=fake_chat_model())
    with TestClient(create_app(settings, resources)) as client:
        assert (
            client.get("/health", headers={"X-Request-ID": "ticket-42"}).headers["x-request-id"]
            == "ticket-42"
        )
        made = client.get("/health", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_the_access_log_carries_the_request_id(settings: Settings, caplog) -> None:
    resources = Resources(settings=settings, llm=fake_chat_model())
    with TestClient(create_app(settings, resources)) as client, caplog.at_level("INFO"):
        client.get("/health", headers={"X-Request-ID": "find-me-7"})
    lines = [r.getMessage() for r in caplog.records if r.name == "ragchat.access"]
    assert any('"request_id": "find-me-7"' in line for line in lines), lines


def test_the_openai_route_names_the_same_cause_in_its_own_shape(settings: Settings) -> None:
    down = settings.model_copy(
        update={"llm_provider": "endpoint", "llm_endpoint_url": ENDPOINT_DOWN}
    )
    with TestClient(create_app(down)) as client:
        invoked = client.post("/formatted/invoke", json={"input": {"question": "hello"}})
        model = "ragchat-formatted"
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "user": "u"}
        plain = client.post("/v1/chat/completions", json=body)
        assert plain.status_code == invoked.status_code == 502
        assert plain.json()["error"]["message"] == invoked.json()["detail"]
        # A stream that fails before its first token is refused like a plain request.
        streamed = client.post("/v1/chat/completions", json={**body, "stream": True})
        assert streamed.status_code == 502
        assert streamed.json()["error"]["message"] == invoked.json()["detail"]


def test_ready_checks_redis_when_set_without_naming_its_address(settings: Settings) -> None:
    closed = settings.model_copy(update={"redis_url": "redis://:pw-7@127.0.0.1:1/0"})
    with TestClient(create_app(closed, Resources(settings=closed, llm=fake_chat_model()))) as c:
        response = c.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"] == {**body["checks"]["redis"], "ok": False}
    assert "127.0.0.1" not in response.text and "pw-7" not in response.text
    assert "empty" in body["checks"]["index"]["detail"]
    assert str(settings.data_dir) not in response.text
