"""Try retrieval alone: what the RAG stages would read for a query, without the model."""

from __future__ import annotations

from typing import Any

import streamlit as st

from frontend.client import BackendClient
from frontend.documents.formatting import chunk_details, chunk_heading, plural
from frontend.errors import BackendError
from frontend.filters import FilterSyntaxError, parse_raw_filter
from frontend.sidebar import SEARCH_MODES

RESULTS = "retrieval_results"  # (query, chunks) of the last search: kept across reruns
KEEP = "session"  # the form as it was left, after a visit to the chat


def _search(client: BackendClient, query: str, k: int, mode: str, raw_filter: str) -> None:
    if not query.strip():
        st.warning("Type a query first.")
        return
    try:
        metadata_filter = parse_raw_filter(raw_filter)
        chunks = client.retrieve(query, k=k, mode=mode, filter=metadata_filter)
    except (FilterSyntaxError, BackendError) as exc:
        st.session_state.pop(RESULTS, None)  # older results under a new query would mislead
        st.error(str(exc))
        return
    st.session_state[RESULTS] = (query, chunks)


def show_chunks(query: str, chunks: list[dict[str, Any]]) -> None:
    if not chunks:
        st.info(f"Nothing found for “{query}”.")
        return
    st.caption(f"{plural(len(chunks), 'chunk')} for “{query}”, best first")
    for number, chunk in enumerate(chunks, start=1):
        with st.container(border=True, key=f"chunk-{number}"):
            st.markdown(chunk_heading(number, chunk))
            details = chunk_details(chunk)
            if details:
                st.caption(details)
            st.text(str(chunk.get("page_content", "")))


def retrieval_test(client: BackendClient) -> None:
    st.subheader("Retrieval test")
    st.caption("The chunks `/retrieve` finds for a query: what a RAG answer would be given.")
    with st.form("retrieval_test", border=False):
        query = st.text_input("Query", key="retrieval_query", max_chars=4000, persist_state=KEEP)
        left, right = st.columns(2)
        mode = left.radio(
            "Mode", SEARCH_MODES, horizontal=True, key="retrieval_mode", persist_state=KEEP
        )
        k = right.slider("Chunks (k)", 1, 20, 5, key="retrieval_k", persist_state=KEEP)
        raw_filter = st.text_input(
            "Filter (JSON, optional)",
            key="retrieval_filter",
            placeholder='{"team": "docs"}',
            persist_state=KEEP,
        )
        searched = st.form_submit_button("Search", icon=":material/search:")
    if searched:
        _search(client, query, k, mode, raw_filter or "")
    if RESULTS in st.session_state:
        show_chunks(*st.session_state[RESULTS])
