"""LangServe glue: streams run without LangServe's unread aggregator, other callbacks kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler
from langserve.callbacks import AsyncEventAggregatorCallback

from api.langserve_stream import without_unread_aggregator
from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import fake_chat_model, sse_events


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, Resources(settings=settings, llm=fake_chat_model()))
    with TestClient(app) as test_client:
        yield test_client


class UserCallback(BaseCallbackHandler):
    """Stands for any callback a deployment adds (tracing, metrics)."""


def test_stream_runs_without_langserve_s_unread_event_aggregator(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_core.callbacks import manager

    handlers: list[list[str]] = []
    on_token = manager.AsyncCallbackManagerForLLMRun.on_llm_new_token

    async def spy(self: Any, *args: Any, **kwargs: Any) -> None:
        handlers.append([type(h).__name__ for h in self.handlers])
        await on_token(self, *args, **kwargs)

    monkeypatch.setattr(manager.AsyncCallbackManagerForLLMRun, "on_llm_new_token", spy)
    response = client.post("/simple/stream", json={"input": {"question": "Hi?"}})
    assert response.status_code == 200
    assert "".join(e["data"] for e in sse_events(response.text) if e["event"] == "data")
    assert handlers and not any("AsyncEventAggregatorCallback" in h for h in handlers)
    assert all("StreamMessagesHandler" in h for h in handlers)  # token streaming untouched


def test_without_unread_aggregator_keeps_every_other_callback() -> None:
    mine, aggregator = UserCallback(), AsyncEventAggregatorCallback()
    listed = without_unread_aggregator({"callbacks": [mine, aggregator], "tags": ["t"]})
    assert listed == {"callbacks": [mine], "tags": ["t"]}
    manager = AsyncCallbackManager(handlers=[mine, aggregator], inheritable_handlers=[aggregator])
    managed = without_unread_aggregator({"callbacks": manager})
    assert managed is not None
    assert managed["callbacks"].handlers == [mine]
    assert managed["callbacks"].inheritable_handlers == []
    assert manager.handlers == [mine, aggregator]  # LangServe's own config is not changed
    assert without_unread_aggregator(None) is None
    assert without_unread_aggregator({"tags": ["t"]}) == {"tags": ["t"]}
