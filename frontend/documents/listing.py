"""The documents in the index, a page at a time, each with a Delete that asks first."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import streamlit as st

from frontend import state
from frontend.client import BackendClient
from frontend.documents.formatting import escape_markdown, format_added, format_metadata, plural
from frontend.errors import BackendError
from frontend.filters import FilterSyntaxError, parse_raw_filter
from frontend.shell import cached_stats

PAGE_SIZE = 50
PAGE = "documents_page"  # the page-number widget, shown once there is more than one page
COLUMNS = [0.31, 0.09, 0.26, 0.2, 0.14]
HEADINGS = ("Document", "Chunks", "Metadata", "Added", "")


def delete(client: BackendClient, source: str) -> None:
    """Delete button callback: the run it triggers lists the documents without this one."""
    try:
        removed = client.delete_document(source).get("chunks_removed", 0)
    except BackendError as exc:
        state.notify("error", f"Could not delete {source}. {exc}")
        return
    cached_stats.clear()  # its metadata values may be gone from the chat's picker
    state.notify("success", f"Deleted {source} ({plural(removed, 'chunk')}).")


def _row_key(source: str) -> str:
    # Sources hold slashes, dots and spaces; a key also becomes a CSS class.
    return hashlib.sha1(source.encode()).hexdigest()[:16]


def document_row(client: BackendClient, document: dict[str, Any]) -> None:
    source = str(document.get("source") or "")
    title = str(document.get("title") or "").strip()
    chunks = document.get("chunks", 0)
    name, count, metadata, added, action = st.columns(COLUMNS, vertical_alignment="center")
    name.markdown(f"**{escape_markdown(title)}**  \n`{source}`" if title else f"`{source}`")
    count.markdown(str(chunks))
    metadata.caption(format_metadata(document.get("metadata")) or "—")
    added.caption(format_added(document.get("added_by"), document.get("added_at")) or "—")
    with action.popover("Delete", icon=":material/delete:", help=f"Delete {source}"):
        st.markdown(f"Remove `{source}` and its {plural(chunks, 'chunk')} from the index?")
        st.button(
            "Delete document",
            type="primary",
            key=f"delete-doc-{_row_key(source)}",
            on_click=delete,
            args=(client, source),
        )


def _fetch(
    client: BackendClient, metadata_filter: dict[str, Any] | None
) -> tuple[dict[str, Any], int]:
    """The listing and its page number, moved back to the last page when the list shrank."""
    number = int(st.session_state.get(PAGE) or 1)
    listing = client.documents((number - 1) * PAGE_SIZE, PAGE_SIZE, metadata_filter)
    total = int(listing.get("total") or 0)
    last = max(1, math.ceil(total / PAGE_SIZE))
    if number > last:
        st.session_state[PAGE] = number = last
        listing = client.documents((number - 1) * PAGE_SIZE, PAGE_SIZE, metadata_filter)
    return listing, number


def document_list(client: BackendClient) -> None:
    head, refresh = st.columns([0.85, 0.15], vertical_alignment="bottom")
    head.subheader("In the index")
    refresh.button("Refresh", icon=":material/refresh:", key="documents_refresh")
    raw = st.text_input(
        "Filter by metadata (JSON, optional)",
        key="documents_filter",
        persist_state="session",
        placeholder='{"team": "docs"}',
        on_change=lambda: st.session_state.pop(PAGE, None),
    )
    try:
        metadata_filter = parse_raw_filter(raw or "")
        listing, number = _fetch(client, metadata_filter)
    except (FilterSyntaxError, BackendError) as exc:
        st.error(str(exc))
        return
    documents, total = listing.get("documents") or [], int(listing.get("total") or 0)
    if not documents:
        st.info("No document matches this filter." if metadata_filter else "No documents yet.")
        return
    shown = f"{(number - 1) * PAGE_SIZE + 1}–{(number - 1) * PAGE_SIZE + len(documents)}"
    showing = f", showing {shown}" if total > len(documents) else ""
    st.caption(plural(total, "document") + showing)
    for column, heading in zip(st.columns(COLUMNS), HEADINGS, strict=True):
        column.caption(f"**{heading}**" if heading else "")
    for document in documents:
        document_row(client, document)
    if total > PAGE_SIZE:
        st.number_input("Page", 1, math.ceil(total / PAGE_SIZE), key=PAGE)
