"""The Documents page: add files, follow their jobs, see and delete what the index holds,
and try retrieval on its own."""

from __future__ import annotations

import streamlit as st

from frontend.documents.listing import document_list
from frontend.documents.retrieval import retrieval_test
from frontend.documents.upload import job_progress, upload_form
from frontend.shell import Shell, show_notice


def documents_page(shell: Shell) -> None:
    # Rows of five columns need the room.
    st.set_page_config(layout="wide")
    st.title("Documents")
    st.caption(
        "Files added here are searchable, and the chat answers from them, as soon as their "
        "job is done."
    )
    show_notice()
    st.subheader("Add documents")
    files, progress = st.columns(2, gap="large")
    with files:
        upload_form(shell.client, shell.username)
    with progress:
        job_progress(shell.client)
    st.divider()
    document_list(shell.client)
    st.divider()
    retrieval_test(shell.client)
