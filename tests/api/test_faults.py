"""Faults: a component down gives a clear 5xx on the routes that need it, nothing else breaks."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import fake_chat_model
from tests.utils.postgres import (
    create_database,
    drop_database,
    fresh_database_name,
    require_postgres,
    with_database,
)

CLOSED_PORT_DB = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/nothing"


def test_database_down_is_a_503_and_other_routes_keep_working(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": CLOSED_PORT_DB})
    app = create_app(down, Resources(settings=down, llm=fake_chat_model()))
    with TestClient(app) as client:
        response = client.post(
            "/history/invoke", json={"input": {"question": "q", "username": "u"}}
        )
        assert response.status_code == 503, response.text
        assert "history" in response.text and "s3cret-pw" not in response.text
        stream = client.post("/history/stream", json={"input": {"question": "q", "username": "u"}})
        assert stream.status_code == 503 and "s3cret-pw" not in stream.text
        assert client.get("/sessions", params={"username": "u"}).status_code == 503
        assert client.post("/simple/invoke", json={"input": {"question": "q"}}).status_code == 200


def test_llm_endpoint_down_names_the_provider_without_secrets(settings: Settings) -> None:
    from pydantic import SecretStr

    endpoint = settings.model_copy(
        update={
            "llm_provider": "endpoint",
            "llm_endpoint_url": "http://127.0.0.1:1",
            "hf_token": SecretStr("hf_supersecret"),
            "llm_timeout_seconds": 5.0,
        }
    )
    with TestClient(create_app(endpoint)) as client:
        response = client.post("/simple/invoke", json={"input": {"question": "q"}})
        assert response.status_code in (502, 503), response.text
        assert "endpoint" in response.text and "hf_supersecret" not in response.text
        assert client.get("/health").status_code == 200


@pytest.mark.postgres
def test_history_recovers_when_the_database_comes_back(settings: Settings) -> None:
    server_url = require_postgres()
    name = fresh_database_name()
    pending = settings.model_copy(update={"database_url": with_database(server_url, name)})
    app = create_app(pending, Resources(settings=pending, llm=fake_chat_model()))
    payload = {"input": {"question": "q", "username": "u"}}
    with TestClient(app) as client:
        assert client.post("/history/invoke", json=payload).status_code == 503
        create_database(server_url, name)  # the database "comes back"
        try:
            assert client.post("/history/invoke", json=payload).status_code == 200
            messages = client.get("/sessions/default/messages", params={"username": "u"})
            assert [m["role"] for m in messages.json()] == ["human", "ai"]
        finally:
            drop_database(server_url, name)
