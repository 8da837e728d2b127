"""The whole product for browser tests: a backend with a small corpus, and the Streamlit app."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.utils.corpus import ingest_corpus
from tests.utils.processes import REPO, backend, free_port, serving

APP = REPO / "frontend" / "app.py"
# What a deployment would pass too: no browser to open, no telemetry, no deploy button.
STREAMLIT_FLAGS = {
    "server.headless": "true",
    "server.address": "127.0.0.1",
    "browser.gatherUsageStats": "false",
    "server.fileWatcherType": "none",
    "client.toolbarMode": "viewer",
}


@contextmanager
def chat_app(tmp: Path, max_new_tokens: int) -> Iterator[tuple[str, str]]:
    """(backend URL, app URL): the corpus ingested, the models warm, both always stopped."""
    ingest_corpus(tmp / "data")
    with backend(tmp, MAX_NEW_TOKENS=str(max_new_tokens)) as backend_url:
        warm = httpx.post(
            f"{backend_url}/retrieve/invoke", json={"input": {"query": "venv", "k": 1}}, timeout=300
        )
        assert warm.status_code == 200, warm.text
        port = free_port()
        flags = [f"--{name}={value}" for name, value in STREAMLIT_FLAGS.items()]
        argv = [sys.executable, "-m", "streamlit", "run", str(APP), f"--server.port={port}", *flags]
        env = {"BACKEND_URL": backend_url, "FRONTEND_DEFAULT_USERNAME": "ada"}
        with serving(argv, f"http://127.0.0.1:{port}/_stcore/health", env, tmp / "streamlit.log"):
            yield backend_url, f"http://127.0.0.1:{port}"


def send(page: Any, question: str) -> None:
    """Type `question` into the app's chat box in a Playwright page and send it."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")


def ask_and_expect_source(page: Any, question: str, source: str) -> None:
    """Ask on the Chat page; the answer completes with no alert and lists `source`.

    Only the sources are checked, never the model's words.
    """
    from playwright.sync_api import expect

    send(page, question)
    answer = page.get_by_test_id("stChatMessage").nth(1)
    expect(answer.get_by_test_id("stFeedback")).to_be_visible()  # complete and stored
    expect(answer.get_by_test_id("stAlert")).to_have_count(0)
    assert answer.get_by_test_id("stMarkdown").first.inner_text().strip()
    labels = answer.get_by_test_id("stExpander").locator("summary").all_inner_texts()
    assert any(source in label for label in labels), labels
