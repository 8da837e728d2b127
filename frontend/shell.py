"""The frame every page shares: page setup, the sidebar's backend status and identity, the client.

Drawn by the entry script before the page, so the identity widgets live on every page
and keep what was typed when the person switches pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from frontend import state
from frontend.client import BackendClient
from frontend.config import FrontendSettings, load_settings
from frontend.errors import BackendError
from frontend.sidebar import backend_status, identity


@dataclass(frozen=True)
class Shell:
    """What a page needs to talk to the backend as the person in the sidebar."""

    settings: FrontendSettings
    client: BackendClient
    username: str
    api_key: str | None


@st.cache_resource(show_spinner=False)
def backend_client(url: str, api_key: str | None, timeout: float, stream: float) -> BackendClient:
    return BackendClient(url, api_key=api_key, timeout=timeout, stream_timeout=stream)


@st.cache_data(ttl=15, show_spinner=False)
def cached_health(url: str, timeout: float) -> dict[str, Any]:
    return backend_client(url, None, timeout, timeout).health()


@st.cache_data(ttl=60, show_spinner=False)
def cached_stats(url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    """The chat's metadata picker reads these; the Documents page clears them on a change."""
    return backend_client(url, api_key, timeout, timeout).index_stats()


def open_shell() -> Shell:
    settings: FrontendSettings = load_settings()
    # The layout is each page's own choice.
    st.set_page_config(page_title="ragchat", page_icon=":material/forum:")
    # A chat product, not a dev tool: no tracebacks in the page (they go to the terminal).
    st.set_option("client.showErrorDetails", "none")
    timeout = settings.frontend_request_timeout
    try:
        health, problem = cached_health(settings.backend_url, timeout), None
    except BackendError as exc:
        health, problem = None, str(exc)
    backend_status(settings, health, problem)
    username, api_key = identity(settings, health)
    stream_timeout = settings.frontend_stream_timeout
    client = backend_client(settings.backend_url, api_key, timeout, stream_timeout)
    return Shell(settings, client, username, api_key)


def show_notice() -> None:
    """What the last action (a widget callback) said: errors stay, successes are a toast."""
    notice = state.take_notice()
    if notice and notice[0] == "error":
        st.error(notice[1])
    elif notice:
        st.toast(notice[1], icon=":material/check_circle:")
