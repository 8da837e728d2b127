"""uvicorn `--factory` targets for tests/integration/test_agent_protocol_live.py.

`live_app`: the real local model, the history database of the settings (SQLite under
DATA_DIR, or DATABASE_URL), and the fake retriever of the OpenAI tests, so `/chat`
answers with sources without an ingest. `slow_app`: the same with a slow fake model, so
a run is still in progress when a test cancels it or starts a second one.
"""

from __future__ import annotations

from fastapi import FastAPI

from graph.resources import Resources
from server import create_app
from settings import get_settings
from tests.api.openai_fakes import FakeRetriever, slow_fake_model


def live_app() -> FastAPI:
    settings = get_settings()
    return create_app(settings, Resources(settings=settings, retriever=FakeRetriever()))


def slow_app() -> FastAPI:
    settings = get_settings()
    resources = Resources(settings=settings, llm=slow_fake_model(), retriever=FakeRetriever())
    return create_app(settings, resources)
