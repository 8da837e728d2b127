"""The chat page's layout: sidebar, transcript, streaming the next answer.

HTTP lives in `frontend/client.py`, the look of a message in `frontend/render.py`,
the sidebar in `frontend/sidebar.py`.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any

import streamlit as st

from frontend import state
from frontend.client import HISTORY_STAGES, BackendClient
from frontend.config import FrontendSettings, load_settings
from frontend.errors import BackendError
from frontend.render import render_answer_extras, render_entry, render_sources
from frontend.sidebar import ChatOptions, answering_options, backend_status, conversations, identity
from frontend.transcript import ChatEntry, assistant_entry, user_entry

log = logging.getLogger("ragchat.frontend")


@st.cache_resource(show_spinner=False)
def backend_client(url: str, api_key: str | None, timeout: float, stream: float) -> BackendClient:
    return BackendClient(url, api_key=api_key, timeout=timeout, stream_timeout=stream)


@st.cache_data(ttl=15, show_spinner=False)
def cached_health(url: str, timeout: float) -> dict[str, Any]:
    return backend_client(url, None, timeout, timeout).health()


@st.cache_data(ttl=60, show_spinner=False)
def cached_stats(url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    return backend_client(url, api_key, timeout, timeout).index_stats()


def request_payload(
    options: ChatOptions, question: str, username: str, session_id: str | None
) -> dict[str, Any]:
    """The stage's input: only the fields that stage accepts (its schema forbids others)."""
    payload: dict[str, Any] = {"question": question}
    if options.stage in HISTORY_STAGES:
        # A fresh request id per question: a retried request is stored once.
        payload.update(username=username, session_id=session_id, request_id=uuid.uuid4().hex)
        payload.update(k=options.k, filter=options.filter, mode=options.mode, alpha=options.alpha)
    return payload


def answer(
    client: BackendClient,
    options: ChatOptions,
    username: str,
    question: str,
    messages: list[ChatEntry],
) -> ChatEntry:
    """Stream one answer into the open assistant bubble and add it to `messages`.

    Errors become a readable entry. If the person presses Stop (Streamlit ends the run
    with a BaseException), what was already said is kept, marked as cut off.
    """
    stream = None
    error: str | None = None
    finished = False
    try:
        if options.filter_problem:
            raise BackendError(f"Not sent: {options.filter_problem}")
        session_id = st.session_state.get(state.SESSION_ID)
        if options.stage in HISTORY_STAGES and session_id is None:
            session_id = str(client.create_session(username)["id"])
            st.session_state[state.SESSION_ID] = session_id
            state.started_here()[session_id] = question.strip()[:80]
        # The answer's text first, its sources under it: they arrive before the first token
        # and are drawn while the model writes.
        text_slot, sources_slot = st.empty(), st.empty()

        def show_sources(sources: list[dict[str, Any]]) -> None:
            with sources_slot.container():
                render_sources(sources)

        stream = client.stream_answer(
            options.stage, request_payload(options, question, username, session_id), show_sources
        )
        text_slot.write_stream(stream)
        finished = True
    except BackendError as exc:
        error, finished = str(exc), True
    except Exception as exc:  # noqa: BLE001 - a person sees a sentence, the log the traceback
        log.exception("unexpected failure while answering")
        error, finished = f"Something went wrong in the app: {exc}", True
    finally:
        if stream is not None and not finished:
            stream.close()  # Stop was pressed
        entry = assistant_entry(
            stream.text if stream else "", stream.closing if stream else {}, error
        )
        entry["incomplete"] = entry["incomplete"] or not finished
        messages.append(entry)
    return entry


def show_notice() -> None:
    notice = state.take_notice()
    if notice and notice[0] == "error":
        st.error(notice[1])
    elif notice:
        st.toast(notice[1], icon=":material/check_circle:")


def chat_area(client: BackendClient, options: ChatOptions, username: str) -> None:
    """The transcript, then the next answer streaming in under the question."""
    on_feedback = partial(state.send_feedback, client, username)
    messages = state.transcript()
    # Pinned to the bottom wherever it is called; "stop" turns Send into Stop while answering.
    question = st.chat_input("Ask about your documents…", submit_mode="stop")
    if not messages and not question:
        st.markdown("### What would you like to know?")
        st.caption("Answers come from your documents, with numbered sources you can open.")
    for entry in messages:
        render_entry(entry, on_feedback)
    if question:
        messages.append(user_entry(question))
        render_entry(messages[-1], None)
        with st.chat_message("assistant"):
            entry = answer(client, options, username, question, messages)
            render_answer_extras(entry, on_feedback, sources=False)


def main() -> None:
    settings: FrontendSettings = load_settings()
    st.set_page_config(page_title="ragchat", page_icon=":material/forum:", layout="centered")
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
    state.init_state(username)
    # Drawn before the answer streams, so the list survives a press of Stop.
    conversations(client, username)
    options = answering_options(partial(cached_stats, settings.backend_url, api_key, timeout))

    show_notice()
    opened = st.session_state.get(state.SESSION_ID)
    chat_area(client, options, username)
    if st.session_state.get(state.SESSION_ID) != opened:
        st.rerun()  # this answer started a conversation: list it in the sidebar
