"""What the app remembers between reruns, and the sidebar actions that change it.

Actions run as widget callbacks, before the script reruns, so the page drawn
next already shows their result.
"""

from __future__ import annotations

from typing import Literal

import streamlit as st

from frontend.client import BackendClient
from frontend.errors import BackendError
from frontend.transcript import ChatEntry, from_stored

SESSION_ID = "session_id"  # the open conversation; None until its first message
MESSAGES = "messages"
STARTED_HERE = "started_here"  # {session id: its first question}, for sessions this page began
OWNER = "owner"  # whose conversation is open: switching user closes it
NOTICE = "notice"


def init_state(username: str) -> None:
    st.session_state.setdefault(MESSAGES, [])
    st.session_state.setdefault(SESSION_ID, None)
    if st.session_state.get(OWNER) != username:
        st.session_state[OWNER] = username
        start_new_conversation()


def started_here() -> dict[str, str]:
    return st.session_state.setdefault(STARTED_HERE, {})


def transcript() -> list[ChatEntry]:
    return st.session_state[MESSAGES]


def notify(kind: Literal["error", "success"], message: str) -> None:
    st.session_state[NOTICE] = (kind, message)


def take_notice() -> tuple[str, str] | None:
    return st.session_state.pop(NOTICE, None)


def start_new_conversation() -> None:
    st.session_state[SESSION_ID] = None
    st.session_state[MESSAGES] = []


def open_conversation(client: BackendClient, username: str, session_id: str) -> None:
    try:
        stored = client.messages(username, session_id)
    except BackendError as exc:
        notify("error", f"Could not open that conversation. {exc}")
        return
    st.session_state[SESSION_ID] = session_id
    st.session_state[MESSAGES] = from_stored(stored)


def delete_conversation(client: BackendClient, username: str, session_id: str) -> None:
    try:
        client.delete_session(username, session_id)
    except BackendError as exc:
        notify("error", f"Could not delete that conversation. {exc}")
        return
    if st.session_state.get(SESSION_ID) == session_id:
        start_new_conversation()
    notify("success", "Conversation deleted.")


def send_feedback(client: BackendClient, username: str, entry: ChatEntry, key: str) -> None:
    """`st.feedback("thumbs")` gives 1 for up and 0 for down; the backend takes 1 / -1."""
    value = st.session_state.get(key)
    if value is None or not entry.get("message_id"):
        return  # un-clicking a thumb: the API has no "no opinion" to send
    score = 1 if value == 1 else -1
    try:
        client.send_feedback(username, str(entry["message_id"]), score)
    except BackendError as exc:
        notify("error", f"Feedback not saved. {exc}")
        return
    entry["feedback"] = score
    notify("success", "Thanks for the feedback.")
