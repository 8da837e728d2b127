"""LangServe's playground in a real Chromium, on every route of a live server (real model,
real index): the form renders, Start streams an answer, nothing fails in the console.

An HTTP 200 for `/playground/` proves nothing: a schema the form renderer rejects leaves
the page blank, and a missing `stream_log` makes Start do nothing. Only a browser shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.utils.browser import chromium_page, require_chromium
from tests.utils.corpus import ingest_corpus
from tests.utils.processes import backend

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

QUESTION = "How do I create a virtual environment?"
ROUTES = ["simple", "formatted", "history", "rag", "filtered_rag", "chat", "retrieve"]
KEY = "playground-key-for-tests"
OUTPUT = 'h2:text-is("Output") + div'

# Every distinct length the Output box goes through: many mean the text streamed in.
RECORD_OUTPUT = """
() => {
  window.__lengths = [];
  new MutationObserver(() => {
    const title = [...document.querySelectorAll('h2')].find(h => h.innerText === 'Output');
    const box = title && title.nextElementSibling;
    const n = box && box.innerText !== '...' ? box.innerText.length : 0;
    if (n && window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One server without keys, one with API_KEYS, over the same index."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("playground")
    ingest_corpus(tmp / "data")
    with (
        backend(tmp, MAX_NEW_TOKENS="48") as open_url,
        backend(tmp, MAX_NEW_TOKENS="16", API_KEYS=f"ada:{KEY}") as keyed_url,
    ):
        warm = httpx.post(f"{open_url}/retrieve/invoke", json={"input": {"query": "venv"}})
        assert warm.status_code == 200, warm.text
        yield {"open": open_url, "keyed": keyed_url}


def fill_and_start(page: Any, route: str) -> None:
    from playwright.sync_api import expect

    field = "query" if route == "retrieve" else "question"
    expect(page.locator(f'[id="#/properties/{field}-input"]')).to_be_visible()
    page.locator(f'[id="#/properties/{field}-input"]').fill(QUESTION)
    # Ask the route's schema whether it has a username, rather than the form: a field
    # the form has not rendered yet would be skipped and fail validation for good.
    base = page.url.split(f"/{route}/playground")[0]
    schema = httpx.get(f"{base}/{route}/input_schema", headers=_session_headers(page), timeout=30)
    if "username" in schema.json().get("properties", {}):
        username = page.locator('[id="#/properties/username-input"]')
        expect(username).to_be_visible()
        username.fill("ada")
    expect(page.get_by_text("Validation Errors")).to_have_count(0)
    with page.expect_response(lambda r: r.url.endswith("/stream_log")) as run:
        page.get_by_role("button", name="Start").click()
    assert run.value.status == 200, run.value.text()
    run.value.finished()  # the whole stream has arrived


def _session_headers(page: Any) -> dict[str, str]:
    """The page's cookies (a signed-in playground's session), for a request beside it."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    return {"Cookie": cookies} if cookies else {}


def finished_output(page: Any) -> str:
    """The Output box's text once the run is over and the page has rendered all of it."""
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Start")).to_be_visible()
    expect(page.locator(OUTPUT)).not_to_have_text("...")
    text, same = "", 0
    while same < 4:  # React renders the last chunks a little after the stream ended
        page.wait_for_timeout(250)
        latest = str(page.locator(OUTPUT).inner_text())
        same = same + 1 if latest == text else 0
        text = latest
    return text


@pytest.mark.parametrize("route", ROUTES)
def test_start_streams_an_answer_on_every_route(servers: dict[str, str], route: str) -> None:
    with chromium_page(height=1400) as page:
        page.goto(f"{servers['open']}/{route}/playground/")
        page.evaluate(RECORD_OUTPUT)
        fill_and_start(page, route)
        text = finished_output(page)
        assert text.strip() and "[error" not in text, text
        if route == "retrieve":
            assert text.startswith("[1] ") and "samples/" in text, text
        if route in ("rag", "filtered_rag", "chat"):
            answer, _, sources = text.partition("\n\nSources:\n")
            assert answer.strip(), text
            assert sources.startswith("[1") and "samples/" in sources, text
        if route != "retrieve":  # /retrieve has one chunk: its list
            lengths = page.evaluate("window.__lengths")
            assert len(lengths) >= 3 and lengths[0] < lengths[-1], lengths
        assert page.errors == []


def test_chat_playground_after_a_run(servers: dict[str, str], artifacts_dir: Path) -> None:
    """The screenshot the README shows; intermediate steps list the graph's nodes."""
    with chromium_page(width=1100, height=1500) as page:
        page.goto(f"{servers['open']}/chat/playground/")
        fill_and_start(page, "chat")
        assert "Sources:" in finished_output(page)
        page.get_by_text("Intermediate steps").click()
        for node in ("load_history", "retrieve", "generate"):
            assert page.get_by_text(node, exact=True).count() >= 1, node
        page.get_by_text("Intermediate steps").click()
        page.screenshot(path=str(artifacts_dir / "playground-chat.png"), full_page=True)
        assert page.errors == []


def test_with_api_keys_the_playground_works_after_signing_in(servers: dict[str, str]) -> None:
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(f"{servers['keyed']}/chat/playground/")
        expect(page).to_have_url(f"{servers['keyed']}/login?next=/chat/playground/")
        page.get_by_label("API key").fill("not-the-key")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("That key is not valid.")).to_be_visible()
        page.get_by_label("API key").fill(KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{servers['keyed']}/chat/playground/")
        fill_and_start(page, "chat")
        assert "Sources:" in finished_output(page)
        # The failed sign-in answered 401: the browser reports that one resource error.
        assert [e for e in page.errors if "401" not in e] == []
