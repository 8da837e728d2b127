"""Two people ask at once in Chromium: the one served second sees its place, then its answer.

Everything is real: the backend with the small model and a sample corpus, the Streamlit
app, and two browser contexts (two app sessions, two usernames). The model answers one
question at a time, so whichever question reaches it second waits, and its page says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.utils.browser import chromium_pages, require_chromium
from tests.utils.chat_app import chat_app, send
from tests.utils.documents_page import stub_icon_cdn

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Greedy SmolLM2 writes an essay to the token cap, so the first answer holds the model for
# a second or more (128 tokens at ~100 tok/s on a quiet machine); the second question
# reaches the queue a few hundred milliseconds after the first.
LONG_QUESTION = "Write a very long essay about the history of computers."
SHORT_QUESTION = "How do I create a virtual environment?"
PLACE_LINE = re.compile(r"1 question ahead of yours, about \d+ s")

# On every change of the page, notes (time, the place line if shown, the answer's own
# text: its length and start) for the newest answer. The place line is a caption under the
# sources; the answer's text is the markdown outside the sources' expanders and captions.
RECORD_PLACE = """
() => {
  window.__seen = [];
  const caption = '[data-testid="stCaptionContainer"]';
  const own = (el) => !el.closest('[data-testid="stExpander"]')
    && !el.closest(caption) && !el.querySelector(caption);
  const record = () => {
    const messages = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (messages.length < 2) return;
    const answer = messages[messages.length - 1];
    const line = [...answer.querySelectorAll('[data-testid="stCaptionContainer"]')]
      .map((el) => el.innerText).find((text) => text.includes('ahead of yours')) || null;
    const text = [...answer.querySelectorAll('[data-testid="stMarkdown"]')].filter(own)
      .map((el) => el.innerText).join('').trim();
    const words = text.length;
    const last = window.__seen[window.__seen.length - 1];
    if (!last || last.line !== line || (last.words > 0) !== (words > 0))
      window.__seen.push({t: Date.now(), line, words, text: text.slice(0, 40)});
  };
  new MutationObserver(record).observe(document.body,
    {subtree: true, childList: true, characterData: true});
}
"""


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(backend, app), with one answer already timed, so a place comes with an estimate."""
    require_chromium()
    with chat_app(tmp_path_factory.mktemp("queue-browser"), max_new_tokens=128) as urls:
        warm = httpx.post(
            f"{urls[0]}/chat/invoke",
            json={"input": {"question": SHORT_QUESTION, "username": "warm"}},
            timeout=300,
        )
        assert warm.status_code == 200, warm.text
        yield urls


def become(page: Any, username: str) -> None:
    """Type a username in the sidebar and apply it, as a person switching names would."""
    from playwright.sync_api import expect

    box = page.get_by_test_id("stSidebar").get_by_label("Username", exact=True)
    box.fill(username)
    box.press("Enter")
    expect(page.get_by_text("Press Enter to apply")).to_have_count(0)
    expect(box).to_have_value(username)


def finished_answer(page: Any) -> str:
    """Wait for the page's answer to be complete and stored (its thumbs); return its text."""
    from playwright.sync_api import expect

    answer = page.get_by_test_id("stChatMessage").nth(1)
    expect(answer.get_by_test_id("stFeedback")).to_be_visible()
    expect(answer.get_by_test_id("stAlert")).to_have_count(0)
    return str(answer.get_by_test_id("stMarkdown").first.inner_text()).strip()


def first_words_at(seen: list[dict[str, Any]]) -> float:
    return next(entry["t"] for entry in seen if entry["words"] > 0)


def test_two_people_ask_at_once_and_the_second_sees_its_place_then_its_answer(
    urls: tuple[str, str],
) -> None:
    from playwright.sync_api import expect

    backend_url, app_url = urls
    with chromium_pages(2) as pages:
        for page in pages:
            stub_icon_cdn(page)
            page.goto(app_url)
            expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
        ada, bob = pages
        become(bob, "bob")  # ada is the app's default
        for page in pages:
            page.evaluate(RECORD_PLACE)
        send(ada, LONG_QUESTION)
        send(bob, SHORT_QUESTION)

        assert finished_answer(ada) and finished_answer(bob)
        seen = {"ada": ada.evaluate("window.__seen"), "bob": bob.evaluate("window.__seen")}
        errors = [*ada.errors, *bob.errors]

    first, second = sorted(seen, key=lambda name: first_words_at(seen[name]))
    # The first to reach the model starts at once: nothing is ahead of it.
    assert not [e for e in seen[first] if e["line"]], seen
    waiting = [e for e in seen[second] if e["line"]]
    assert waiting, f"{second} never showed its place: {seen}"
    assert all(PLACE_LINE.search(e["line"]) for e in waiting), waiting
    # The place shows before the answer's first words, and never beside them.
    assert waiting[0]["t"] < first_words_at(seen[second]), seen
    assert not [e for e in seen[second] if e["line"] and e["words"]], seen
    assert seen[second][-1]["line"] is None and seen[second][-1]["words"] > 0, seen
    assert not errors, errors

    # Two people: each question is stored under its own user.
    for name, question in (("ada", LONG_QUESTION), ("bob", SHORT_QUESTION)):
        sessions = httpx.get(f"{backend_url}/sessions", params={"username": name}).json()
        assert [s["title"] for s in sessions] == [question], (name, sessions)
