"""A new user's first minutes, on the settings `make run` ships: upload, then ask about it.

`ragchat run` (what `make run` starts: the samples seeded, the backend, the app) with no
setting changed but the data folder, driven in Chromium: a Markdown file uploaded from
the Documents page, its job followed to done, a question about it asked on the Chat page,
and the file listed among the answer's sources. Neither page may show an error and the
backend may answer no request with a 5xx. The rate limit, the default model and every
other default stay as shipped: the upload broke once under them while tests that turned
the rate limit off passed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack_plan import free_port
from tests.utils.browser import chromium_page, require_chromium
from tests.utils.chat_app import ask_and_expect_source
from tests.utils.documents_page import job_bar, open_page, stub_icon_cdn, upload
from tests.utils.process_tree import descendants, kill_tree, start_cli, wait_for_text, wait_ok

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SOURCE = "lighthouse-rota.md"
NOTE = (
    "# Lighthouse rota\n\n"
    "The Quillmoor lighthouse lamp is serviced every Thursday by Oduya Brenner.\n"
)
QUESTION = "Who services the Quillmoor lighthouse lamp?"


def server_errors(log: Path) -> list[dict[str, object]]:
    """Every access-log record of the backend whose status (or stream fault) was a 5xx."""
    records = []
    for line in log.read_text(errors="replace").splitlines():
        _, marker, payload = line.partition("ragchat.access ")
        if marker and payload.startswith("{"):
            records.append(json.loads(payload))
    assert records, "the backend logged no request at all"
    return [r for r in records if max(int(r["status"]), int(r.get("error_status", 0))) >= 500]


@pytest.mark.timeout(900)
def test_upload_from_the_app_then_ask_about_it_on_the_shipped_defaults(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    require_chromium()
    backend_port, app_port = free_port(), free_port()
    ports = ["--port", str(backend_port), "--frontend-port", str(app_port)]
    proc, log = start_cli(["run", *ports], tmp_path, as_shipped=True)
    tree: dict[int, str] = {}
    try:
        wait_for_text(log, "ragchat is running", proc, timeout=600)
        tree = descendants(proc.pid)
        health = wait_ok(f"http://127.0.0.1:{backend_port}/health", proc).json()
        assert health["auth"] is False and health["llm"]["loaded"], health
        note = tmp_path / SOURCE
        note.write_text(NOTE, encoding="utf-8")

        with chromium_page() as page:
            stub_icon_cdn(page)
            page.goto(f"http://127.0.0.1:{app_port}")
            expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
            open_page(page, "Documents")
            upload(page, [note])
            expect(job_bar(page, SOURCE)).to_contain_text(f"{SOURCE} · done")
            expect(page.get_by_test_id("stAlert")).to_have_count(0)

            open_page(page, "Chat")
            ask_and_expect_source(page, QUESTION, SOURCE)
            assert page.errors == [], page.errors

        assert server_errors(log) == []
    finally:
        kill_tree(proc, tree or descendants(proc.pid))
