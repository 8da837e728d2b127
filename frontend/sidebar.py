"""The sidebar: who I am, my conversations, and how the next answer is made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from frontend import state
from frontend.client import FILTER_STAGES, RAG_STAGES, STAGES, TUNABLE_STAGES, BackendClient
from frontend.config import FrontendSettings
from frontend.errors import BackendError
from frontend.filters import FilterSyntaxError, filter_from_picks, parse_raw_filter, pickable_values

SEARCH_MODES = ("hybrid", "dense", "sparse")
# The answering options outlive a visit to another page (Streamlit forgets, by default,
# the value of a widget that a run does not draw).
KEEP = "session"


@dataclass(frozen=True)
class ChatOptions:
    """What the next question is sent with, besides the identity."""

    stage: str = "chat"
    k: int | None = None
    filter: dict[str, Any] | None = None
    filter_problem: str | None = None  # raw JSON that does not parse: nothing is sent
    mode: str | None = None
    alpha: float | None = None


def backend_status(
    settings: FrontendSettings, health: dict[str, Any] | None, problem: str | None
) -> None:
    st.sidebar.title(":material/forum: ragchat")
    if health is None:
        st.sidebar.error(problem or "The backend is not answering.")
        return
    llm = health.get("llm") or {}
    dot = ":green[●]" if health.get("status") == "ok" else ":orange[●]"
    st.sidebar.caption(f"{dot} {settings.backend_url} · {llm.get('model') or 'no model'}")
    if llm.get("error"):
        st.sidebar.warning(f"The language model is not loaded: {llm['error']}")


def identity(settings: FrontendSettings, health: dict[str, Any] | None) -> tuple[str, str | None]:
    """(username, api key). With API keys on, the key decides who you are on the server."""
    auth_on = bool(health and health.get("auth"))
    st.sidebar.subheader("You")
    username = st.sidebar.text_input(
        "Username",
        value=settings.frontend_default_username,
        max_chars=64,
        key="username",
        disabled=auth_on,
        help="Your conversations are stored under this name.",
    )
    api_key = settings.api_key
    if auth_on or api_key:
        typed = st.sidebar.text_input(
            "API key",
            value=api_key or "",
            type="password",
            key="api_key",
            help="This backend requires a key (API_KEYS); it identifies you.",
        )
        api_key = typed.strip() or None
        if auth_on and not api_key:
            st.sidebar.info("This backend requires an API key.")
    return (username or "").strip() or settings.frontend_default_username, api_key


def _filter_editor(load_stats: Callable[[], dict[str, Any]]) -> tuple[dict | None, str | None]:
    with st.sidebar.expander("Filter by metadata"):
        how = st.radio(
            "Filter",
            ("Pick values", "Raw JSON"),
            horizontal=True,
            key="filter_how",
            label_visibility="collapsed",
            persist_state=KEEP,
        )
        if how == "Raw JSON":
            text = st.text_area(
                "Filter (JSON)",
                key="filter_json",
                placeholder='{"year": {"$gte": 2024}}',
                persist_state=KEEP,
            )
            try:
                return parse_raw_filter(text or ""), None
            except FilterSyntaxError as exc:
                st.error(str(exc))
                return None, str(exc)
        try:
            choices = pickable_values(load_stats())
        except BackendError as exc:
            st.caption(f"Metadata values unavailable. {exc}")
            return None, None
        if not choices:
            st.caption("No metadata to filter on yet: ingest documents with `--meta key=value`.")
            return None, None
        picks = {
            key: st.multiselect(key, values, key=f"filter_pick_{key}", persist_state=KEEP)
            for key, values in choices.items()
        }
        return filter_from_picks(picks), None


def answering_options(load_stats: Callable[[], dict[str, Any]]) -> ChatOptions:
    st.sidebar.subheader("Answering")
    names = list(STAGES)
    stage = st.sidebar.selectbox(
        "Stage",
        names,
        index=names.index("chat"),
        format_func=lambda s: f"/{s} · {STAGES[s]}",
        key="stage",
        persist_state=KEEP,
    )
    if stage not in RAG_STAGES:
        return ChatOptions(stage=stage)
    k = st.sidebar.slider("Sources to retrieve (k)", 1, 20, 5, key="k", persist_state=KEEP)
    metadata_filter, problem = None, None
    if stage in FILTER_STAGES:
        metadata_filter, problem = _filter_editor(load_stats)
    mode = alpha = None
    if stage in TUNABLE_STAGES:
        with st.sidebar.expander("Search"):
            mode = st.radio("Mode", SEARCH_MODES, horizontal=True, key="mode", persist_state=KEEP)
            if mode == "hybrid":
                alpha = st.slider(
                    "Dense weight (alpha)", 0.0, 1.0, 0.5, 0.05, key="alpha", persist_state=KEEP
                )
    return ChatOptions(stage, k, metadata_filter, problem, mode, alpha)


def _pending_title(sid: str) -> str:
    """A session the server has not titled yet: the question this page started it with.

    The server titles a session when it stores the first message, which for a stopped
    answer happens a moment after the page may already have listed the sessions again.
    """
    return state.started_here().get(sid) or "Untitled conversation"


def conversations(client: BackendClient, username: str) -> None:
    """The user's conversations, newest first, each with open and delete buttons."""
    current = st.session_state.get(state.SESSION_ID)
    with st.sidebar:
        st.subheader("Conversations")
        st.button(
            "New conversation",
            icon=":material/add:",
            key="new_conversation",
            width="stretch",
            on_click=state.start_new_conversation,
        )
        try:
            sessions = client.list_sessions(username)
        except BackendError as exc:
            st.caption(f"Conversations unavailable. {exc}")
            return
        if not sessions:
            st.caption("No conversations yet.")
        for session in sessions:
            sid = str(session.get("id"))
            title = str(session.get("title") or "").strip() or _pending_title(sid)
            count, updated = session.get("message_count", 0), session.get("updated")
            left, right = st.columns([0.84, 0.16], vertical_alignment="center")
            left.button(
                title,
                key=f"open-{sid}",
                width="stretch",
                type="primary" if sid == current else "secondary",
                help=f"{count} messages · updated {updated}",
                on_click=state.open_conversation,
                args=(client, username, sid),
            )
            right.button(
                "",
                icon=":material/delete:",
                type="tertiary",
                key=f"delete-{sid}",
                help="Delete this conversation",
                on_click=state.delete_conversation,
                args=(client, username, sid),
            )
