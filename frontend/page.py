"""The chat page's layout: sidebar, transcript, streaming the next answer.

HTTP lives in `frontend/client.py`, the look of a message in `frontend/render.py`,
the sidebar in `frontend/sidebar.py`, the frame shared with other pages in `frontend/shell.py`.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any

import streamlit as st

from frontend import state
from frontend.client import HISTORY_STAGES, BackendClient
from frontend.errors import BackendError
from frontend.render import queue_line, render_answer_extras, render_entry, render_sources
from frontend.shell import Shell, cached_stats, show_notice
from frontend.sidebar import ChatOptions, answering_options, conversations
from frontend.transcript import ChatEntry, assistant_entry, user_entry

log = logging.getLogger("ragchat.frontend")


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
        # and are drawn while the model writes; under them, its place while it waits.
        text_slot, sources_slot, queue_slot = st.empty(), st.empty(), st.empty()

        def show_sources(sources: list[dict[str, Any]]) -> None:
            with sources_slot.container():
                render_sources(sources)

        def show_place(place: dict[str, Any] | None) -> None:
            if place is None:
                queue_slot.empty()
            else:
                queue_slot.caption(f":material/hourglass_top: {queue_line(place)}")

        payload = request_payload(options, question, username, session_id)
        stream = client.stream_answer(options.stage, payload, show_sources, show_place)
        text_slot.write_stream(stream)
        queue_slot.empty()
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


def chat_page(shell: Shell) -> None:
    """The default page: under the shared sidebar, conversations, options and the chat."""
    st.set_page_config(layout="centered")
    settings, client, username = shell.settings, shell.client, shell.username
    timeout = settings.frontend_request_timeout
    state.init_state(username)
    # Drawn before the answer streams, so the list survives a press of Stop.
    conversations(client, username)
    load_stats = partial(cached_stats, settings.backend_url, shell.api_key, timeout)
    options = answering_options(load_stats)

    show_notice()
    opened = st.session_state.get(state.SESSION_ID)
    chat_area(client, options, username)
    if st.session_state.get(state.SESSION_ID) != opened:
        st.rerun()  # this answer started a conversation: list it in the sidebar
