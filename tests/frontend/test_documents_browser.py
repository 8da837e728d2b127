"""The Documents page for real: Chromium, `streamlit run`, the backend with its model and index.

A file uploaded on the page is followed to the end of its job, listed, answered from in
the chat, then deleted; other tests cover a job that fails and one that is cancelled.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.utils.browser import chromium_page, require_chromium
from tests.utils.chat_app import ask_and_expect_source, chat_app
from tests.utils.documents_page import (
    job_bar,
    open_page,
    press_upload,
    stub_icon_cdn,
    upload,
)
from tests.utils.processes import REPO

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SOURCE = "zorblax-protocol.md"
FACT = "The Zorblax protocol listens on port 48213 and was designed by Mirela Vance."
QUESTION = "Which port does the Zorblax protocol listen on?"
SCREENSHOT = REPO / "docs" / "documents-page.png"


@dataclass(frozen=True)
class Stack:
    backend_url: str
    app_url: str
    files: Path  # where the tests write the files they upload


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("documents-browser")
    # The sample corpus too, so the upload has to win retrieval against other documents.
    with chat_app(tmp, max_new_tokens=48) as (backend_url, app_url):
        files = tmp / "uploads"
        files.mkdir()
        yield Stack(backend_url, app_url, files)


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    """A fresh tab (a fresh Streamlit session) on the Documents page, reached by its link."""
    from playwright.sync_api import expect

    with chromium_page() as tab:
        stub_icon_cdn(tab)
        tab.goto(stack.app_url)
        expect(tab.get_by_test_id("stChatInputTextArea")).to_be_visible()
        open_page(tab, "Documents")
        yield tab
        assert tab.errors == [], tab.errors


def document_row(page: Any, source: str) -> Any:
    """The list's row of `source`: the columns block that holds its Delete popover."""
    return (
        page.get_by_test_id("stHorizontalBlock")
        .filter(has=page.get_by_test_id("stPopover"))
        .filter(has=page.get_by_text(source, exact=True))
    )


def screenshot_whole_page(page: Any, path: Path) -> None:
    """Streamlit scrolls inside its main area, so `full_page` would stop at the viewport:
    make the viewport as tall as the page for one shot instead."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stToast")).to_have_count(0)  # the "Queued" toast has faded
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(int(height), 3000)})
    page.evaluate("document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; })")
    page.wait_for_timeout(500)  # let the layout settle at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def listed_sources(backend_url: str) -> list[str]:
    listing = httpx.get(f"{backend_url}/documents", params={"limit": 500}, timeout=30).json()
    return [document["source"] for document in listing["documents"]]


def test_upload_answer_from_and_delete_a_document(
    page: Any, stack: Stack, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    file = stack.files / SOURCE
    file.write_text(f"# Zorblax protocol\n\n{FACT}\n", encoding="utf-8")
    upload(page, [file], "team=eng\nyear=2025")

    expect(job_bar(page, SOURCE)).to_contain_text(f"{SOURCE} · done · 1 chunk")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    row = document_row(page, SOURCE)
    expect(row).to_have_count(1)  # the page reran itself when the job ended
    expect(row).to_contain_text("Zorblax protocol")
    expect(row).to_contain_text("team=eng · year=2025")
    expect(row).to_contain_text("ada ·")
    expect(document_row(page, "samples/howto/sockets.md")).to_have_count(1)  # the CLI's too
    assert SOURCE in listed_sources(stack.backend_url)

    # Retrieval alone finds it first, with its score.
    page.locator(".st-key-retrieval_query input").fill("Zorblax protocol port")
    page.get_by_role("slider", name="Chunks (k)").press("Home")  # k = 1
    page.get_by_role("button", name="Search").click()
    best = page.locator(".st-key-chunk-1")
    expect(best).to_contain_text(f"[1] Zorblax protocol · {SOURCE}")
    expect(best).to_contain_text("score 0.")
    expect(best.get_by_test_id("stText")).to_contain_text("port 48213")
    expect(page.locator(".st-key-chunk-2")).to_have_count(0)

    screenshot_whole_page(page, artifacts_dir / "frontend-documents.png")
    if os.environ.get("UPDATE_SCREENSHOTS"):  # docs' picture, refreshed on purpose only
        shutil.copyfile(artifacts_dir / "frontend-documents.png", SCREENSHOT)

    # The chat answers from it at once (the tiny model's words may be wrong: check sources).
    open_page(page, "Chat")
    ask_and_expect_source(page, QUESTION, SOURCE)

    # Deleted from the Documents page, it is gone from the list and from the backend.
    open_page(page, "Documents")
    row = document_row(page, SOURCE)
    row.get_by_test_id("stPopover").get_by_role("button").click()
    page.get_by_test_id("stPopoverBody").get_by_role("button", name="Delete document").click()
    expect(page.get_by_text(f"Deleted {SOURCE} (1 chunk).")).to_be_visible()
    expect(document_row(page, SOURCE)).to_have_count(0)
    expect(document_row(page, "samples/howto/sockets.md")).to_have_count(1)
    assert SOURCE not in listed_sources(stack.backend_url)


def test_bad_metadata_is_not_sent_and_a_file_without_text_fails_readably(
    page: Any, stack: Stack
) -> None:
    from playwright.sync_api import expect

    empty = stack.files / "empty-notes.md"
    empty.write_text("", encoding="utf-8")
    upload(page, [empty], "team eng")
    expect(page.get_by_text("Metadata line 1 is not key=value: 'team eng'")).to_be_visible()
    expect(page.get_by_test_id("stProgress")).to_have_count(0)

    page.locator(".st-key-upload_metadata textarea").fill("team=eng")
    press_upload(page)
    expect(job_bar(page, "empty-notes.md")).to_contain_text("empty-notes.md · failed")
    job = page.locator("[class*='st-key-job-']").filter(has=job_bar(page, "empty-notes.md"))
    expect(job.get_by_test_id("stAlert")).to_contain_text("empty-notes.md")
    assert "empty-notes.md" not in listed_sources(stack.backend_url)


def test_cancel_stops_a_long_job(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    big = stack.files / "long-report.md"
    paragraph = " ".join(f"word{n}" for n in range(400))
    sections = (f"## Section {n}\n\n{paragraph} section{n}\n\n" for n in range(400))
    big.write_text("# Long report\n\n" + "".join(sections), encoding="utf-8")
    upload(page, [big])
    bar = job_bar(page, "long-report.md")
    expect(bar).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(bar).to_contain_text("long-report.md · cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    jobs = httpx.get(f"{stack.backend_url}/jobs", params={"limit": 5}, timeout=30).json()["jobs"]
    assert [j["state"] for j in jobs if j["source"] == "long-report.md"] == ["cancelled"]
