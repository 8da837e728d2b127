"""How one chat message looks: the answer, its numbered sources, its thumbs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from frontend.transcript import ChatEntry

FeedbackHandler = Callable[[ChatEntry, str], None]


def source_label(source: Mapping[str, Any]) -> str:
    """`[2] Title · path/to/file.md`, with whatever of title and path is known."""
    number = source.get("number", "?")
    title = str(source.get("title") or "").strip()
    path = str(source.get("source") or "").strip()
    parts = [part for part in (title, f"`{path}`" if path else "") if part]
    return f"[{number}] " + (" · ".join(parts) if parts else "untitled chunk")


def render_sources(sources: Sequence[Mapping[str, Any]]) -> None:
    if not sources:
        return
    st.caption(f"Sources ({len(sources)})")
    for source in sources:
        with st.expander(source_label(source)):
            details = []
            if isinstance(source.get("score"), int | float):
                details.append(f"score {source['score']:.3f}")
            details.extend(f"{k}: {v}" for k, v in (source.get("metadata") or {}).items())
            if details:
                st.caption(" · ".join(details))
            st.text(str(source.get("page_content", "")))


def feedback_key(entry: ChatEntry) -> str:
    return f"feedback-{entry.get('message_id')}"


def render_feedback(entry: ChatEntry, on_feedback: FeedbackHandler) -> None:
    """Thumbs under a stored answer, preset from what the backend remembers."""
    if not entry.get("message_id"):
        return
    key = feedback_key(entry)
    stored = entry.get("feedback")
    default = 1 if stored == 1 else 0 if stored == -1 else None
    st.feedback("thumbs", key=key, default=default, on_change=on_feedback, args=(entry, key))


def render_answer_extras(entry: ChatEntry, on_feedback: FeedbackHandler | None) -> None:
    """Everything under an assistant's text."""
    if entry.get("error"):
        st.error(entry["error"])
    elif entry.get("incomplete"):
        st.caption(":material/warning: This answer was cut off before it finished.")
    render_sources(entry.get("sources") or [])
    if on_feedback is not None:
        render_feedback(entry, on_feedback)


def render_entry(entry: ChatEntry, on_feedback: FeedbackHandler | None) -> None:
    with st.chat_message(entry["role"]):
        if entry.get("content"):
            st.markdown(entry["content"])
        if entry["role"] == "assistant":
            render_answer_extras(entry, on_feedback)
