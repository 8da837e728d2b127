"""The app's two pages behind one frame: Chat (the default) and Documents.

The frame (backend status, identity) is drawn here, before the page, so both pages share
it; the page links sit in the top bar and leave the chat's sidebar as it always was.
"""

from __future__ import annotations

import streamlit as st

from frontend.documents.page import documents_page
from frontend.page import chat_page
from frontend.shell import open_shell


def main() -> None:
    shell = open_shell()

    def chat() -> None:
        chat_page(shell)

    def documents() -> None:
        documents_page(shell)

    chat_link = st.Page(chat, title="Chat", icon=":material/forum:", default=True)
    documents_link = st.Page(
        documents, title="Documents", icon=":material/folder_open:", url_path="documents"
    )
    st.navigation([chat_link, documents_link], position="top").run()
