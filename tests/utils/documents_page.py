"""Driving the app's Documents page in Chromium, as a person would: links, uploads, job bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.utils.browser import press

# The favicon is a Material icon the browser fetches from Google's font CDN, which a
# closed network cannot resolve; a stand-in keeps that out of the console errors.
ICON_CDN = "https://fonts.gstatic.com/**"
BLANK_SVG = '<svg xmlns="http://www.w3.org/2000/svg"/>'


def stub_icon_cdn(page: Any) -> None:
    page.route(ICON_CDN, lambda r: r.fulfill(content_type="image/svg+xml", body=BLANK_SVG))


def open_page(page: Any, name: str) -> None:
    """Follow a link of the top bar, as a person would (a typed URL works too)."""
    from playwright.sync_api import expect

    press(page.get_by_role("link", name=name))  # a stale sidebar tooltip can cover it
    marker = "In the index" if name == "Documents" else "What would you like to know?"
    expect(page.get_by_text(marker)).to_be_visible()


def press_upload(page: Any) -> None:
    """Upload is enabled once the picked files have reached the app, not before."""
    from playwright.sync_api import expect

    button = page.locator(".st-key-upload").get_by_role("button")
    expect(button).to_be_enabled()
    button.click()


def upload(page: Any, paths: list[Path], metadata: str = "") -> None:
    from playwright.sync_api import expect

    expect(page.locator(".st-key-upload").get_by_role("button")).to_be_disabled()
    page.locator(".st-key-upload_metadata textarea").fill(metadata)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(p) for p in paths])
    press_upload(page)


def job_bar(page: Any, source: str) -> Any:
    return page.get_by_test_id("stProgress").filter(has_text=f"{source} ·")
