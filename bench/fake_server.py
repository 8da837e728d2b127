"""The real server app with a fake LLM, for `uvicorn bench.fake_server:create_fake_app --factory`.

Everything but the model is the production code path: settings from the
environment, LangServe routes, graphs, history store, retriever. The fake's
answer comes from bench-only variables: `BENCH_FAKE_TOKENS`,
`BENCH_FAKE_TOKEN_DELAY_MS` and `BENCH_FAKE_TEXT`.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bench.fake_models import fake_paced_model
from graph.resources import Resources
from server import create_app
from settings import Settings


class FakeModelSettings(BaseSettings):
    """How the fake model answers: `tokens` words, one every `token_delay_ms`."""

    model_config = SettingsConfigDict(env_prefix="BENCH_FAKE_", extra="ignore", frozen=True)

    tokens: int = Field(default=50, ge=1)
    token_delay_ms: float = Field(default=0.0, ge=0.0)
    text: str = Field(default="", description="a fixed answer instead of `tokens` words")


def create_fake_app() -> FastAPI:
    settings = Settings()
    fake = FakeModelSettings()
    llm = fake_paced_model(fake.tokens, fake.token_delay_ms / 1000.0, text=fake.text)
    return create_app(settings, Resources(settings=settings, llm=llm))
