"""How one chat message looks: the answer, its numbered sources, its thumbs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from frontend.transcript import ChatEntry

FeedbackHandler = Callable[[ChatEntry, str], None]


def by_page(sources: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The sources grouped by the page they come from, pages in the order first cited."""
    pages: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for source in sources:
        key = (str(source.get("source") or source.get("id")), str(source.get("title") or ""))
        pages.setdefault(key, []).append(source)
    return list(pages.values())


def page_label(chunks: Sequence[Mapping[str, Any]]) -> str:
    """`[1, 3] Title · path/to/file.md`: the numbers an answer cites, then the page."""
    numbers = ", ".join(str(chunk.get("number", "?")) for chunk in chunks)
    title = str(chunks[0].get("title") or "").strip()
    path = str(chunks[0].get("source") or "").strip()
    parts = [part for part in (title, f"`{path}`" if path else "") if part]
    return f"[{numbers}] " + (" · ".join(parts) if parts else "untitled chunk")


def render_sources(sources: Sequence[Mapping[str, Any]]) -> None:
    """One expander per page, its chunks inside, each under the number answers cite."""
    if not sources:
        return
    pages = by_page(sources)
    st.caption(f"Sources ({len(pages)} pages)" if len(pages) > 1 else "Source (1 page)")
    for chunks in pages:
        with st.expander(page_label(chunks)):
            for chunk in chunks:
                details = [f"[{chunk.get('number', '?')}]"]
                if isinstance(chunk.get("score"), int | float):
                    details.append(f"score {chunk['score']:.3f}")
                details.extend(f"{k}: {v}" for k, v in (chunk.get("metadata") or {}).items())
                st.caption(" · ".join(details))
                st.text(str(chunk.get("page_content", "")))


def queue_line(place: Mapping[str, Any]) -> str:
    """`2 questions ahead of yours, about 9 s`: where a waiting answer stands."""
    ahead = int(place.get("ahead") or 0)
    line = f"{ahead} question{'s' if ahead != 1 else ''} ahead of yours"
    seconds = place.get("estimate_seconds")
    if isinstance(seconds, int | float):
        line += f", about {max(1, round(seconds))} s"
    return line


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


def render_answer_extras(
    entry: ChatEntry, on_feedback: FeedbackHandler | None, *, sources: bool = True
) -> None:
    """Everything under an assistant's text (`sources=False`: already drawn above)."""
    if entry.get("error"):
        st.error(entry["error"])
    elif entry.get("incomplete") and entry.get("content"):
        st.caption(":material/warning: This answer was cut off before it finished.")
    elif entry.get("incomplete"):
        st.caption(":material/warning: No answer was saved for this question.")
    if sources:
        render_sources(entry.get("sources") or [])
    if on_feedback is not None:
        render_feedback(entry, on_feedback)


def render_entry(entry: ChatEntry, on_feedback: FeedbackHandler | None) -> None:
    with st.chat_message(entry["role"]):
        if entry.get("content"):
            st.markdown(entry["content"])
        if entry["role"] == "assistant":
            render_answer_extras(entry, on_feedback)
