"""The frontend's own settings: the one place in `frontend/` that reads the environment.

The frontend is a separate deployable (it may run far from the backend, e.g.
against a hosted Space), so it does not import the server's `Settings`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class FrontendSettings(BaseSettings):
    """Read from upper-case environment variables (and `.env`)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    backend_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the ragchat backend"
    )
    ragchat_api_key: SecretStr | None = Field(
        default=None, description="Bearer key sent to a backend that has API_KEYS set"
    )
    frontend_request_timeout: float = Field(
        default=15.0, gt=0, description="Seconds for REST calls (sessions, feedback, stats)"
    )
    frontend_stream_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds to wait for the next streamed token (not for the whole answer)",
    )
    frontend_default_username: str = Field(default="guest", max_length=64)

    @field_validator("backend_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @property
    def api_key(self) -> str | None:
        if self.ragchat_api_key is None:
            return None
        return self.ragchat_api_key.get_secret_value().strip() or None


def load_settings() -> FrontendSettings:
    """Read afresh on each call: cheap, and tests change the environment between apps."""
    return FrontendSettings()
