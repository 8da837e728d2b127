"""A real Chromium for tests: Debian's `/usr/bin/chromium`, driven by playwright.

`playwright install` cannot download browsers here; `make test` installs Debian's
chromium with apt (`make browser-deps`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium calls home at start, which a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 180_000  # a cold model on a busy 2-core machine is slow


def require_chromium() -> None:
    """Skip when told to (SKIP_BROWSER=1); fail, saying how to install it, when it is missing."""
    if os.environ.get("SKIP_BROWSER") == "1":
        pytest.skip("SKIP_BROWSER=1: the browser test was skipped on purpose")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` (apt-get install chromium)")


@contextmanager
def chromium_page(width: int = 1280, height: int = 1100) -> Iterator[Any]:
    """A fresh tab whose console errors and page errors are collected in `page.errors`."""
    with chromium_pages(1, width, height) as (page,):
        yield page


@contextmanager
def chromium_pages(count: int, width: int = 1280, height: int = 1100) -> Iterator[list[Any]]:
    """`count` tabs of one Chromium, each in a browser context of its own (no shared
    cookies or storage), so each is a separate app session, as separate people are."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            expect.set_options(timeout=TIMEOUT_MS)
            yield [_collecting_page(browser, width, height) for _ in range(count)]
        finally:
            browser.close()


def _collecting_page(browser: Any, width: int, height: int) -> Any:
    """A page in a new context whose console and page errors land in `page.errors`."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return page


def press(target: Any) -> None:
    """Activate a button or link from the keyboard (focus, then Enter), as a keyboard user can.

    Streamlit's hover tooltips can outlive the rerun that replaced the element under the
    mouse; such an orphan then covers the sidebar's buttons to the pointer, and a click
    waits on it until it times out (it did so in CI). A key press goes to the element itself.
    """
    target.press("Enter")
