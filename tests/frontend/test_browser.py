"""The real thing: Chromium, the Streamlit server, the backend and its index, all live."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.utils.browser import chromium_page, press, require_chromium
from tests.utils.chat_app import chat_app, send

pytestmark = [pytest.mark.browser, pytest.mark.integration]

QUESTION = "How do I create a virtual environment?"

# Records every length the last chat message's text goes through, so the test can tell
# a streamed answer (many lengths) from one that arrived whole.
RECORD_LENGTHS = """
() => {
  window.__lengths = [];
  const record = () => {
    const messages = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (messages.length < 2) return;
    const md = messages[messages.length - 1].querySelector('[data-testid="stMarkdown"]');
    const n = md ? md.innerText.length : 0;
    if (n && window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
  };
  new MutationObserver(record).observe(document.body,
    {subtree: true, childList: true, characterData: true});
}
"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    # Long enough an answer to press Stop in the middle of it.
    with chat_app(tmp_path_factory.mktemp("browser"), max_new_tokens=400) as (_, url):
        yield url


@pytest.fixture
def page(app_url: str) -> Iterator[Any]:
    """A fresh Chromium tab on the app (a fresh Streamlit session)."""
    from playwright.sync_api import expect

    with chromium_page() as tab:
        tab.goto(app_url)
        expect(tab.get_by_test_id("stChatInputTextArea")).to_be_visible()
        yield tab


def test_question_streams_an_answer_with_sources_in_chromium(
    page: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text("What would you like to know?")).to_be_visible()
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    page.evaluate(RECORD_LENGTHS)
    send(page, QUESTION)

    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_contain_text(QUESTION)
    answer = messages.nth(1)
    # The thumbs appear once the answer is complete and stored.
    expect(answer.get_by_test_id("stFeedback")).to_be_visible()
    expect(answer.get_by_test_id("stAlert")).to_have_count(0)
    assert answer.get_by_test_id("stMarkdown").first.inner_text().strip()

    lengths = page.evaluate("window.__lengths")
    # Markdown re-renders as it grows, so lengths are not monotonic, but many
    # distinct ones and a short first one mean tokens arrived one by one.
    assert len(set(lengths)) >= 3 and lengths[0] < lengths[-1], lengths

    sources = answer.get_by_test_id("stExpander")  # one per page, its chunks inside
    expect(sources.first).to_contain_text("[1")
    expect(sources.first).to_contain_text("samples/")
    labels = [label.split("] ", 1)[1] for label in sources.locator("summary").all_inner_texts()]
    assert len(labels) == len(set(labels)), labels  # no page listed twice
    sources.first.locator("summary").click()
    expect(sources.first.get_by_test_id("stText").first).to_be_visible()
    expect(sources.first.get_by_test_id("stText").first).not_to_be_empty()

    expect(page.get_by_text("What would you like to know?")).to_have_count(0)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name=QUESTION)).to_be_visible()

    answer.get_by_test_id("stFeedbackButton").first.click()  # thumbs up
    expect(page.get_by_text("Thanks for the feedback.")).to_be_visible()
    expect(answer.get_by_test_id("stFeedbackButtonActive")).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "frontend-chat.png"), full_page=True)


def test_stop_keeps_the_partial_answer_marked_cut_off(page: Any) -> None:
    from playwright.sync_api import expect

    question = f"Write a very long essay about the history of computers ({uuid.uuid4().hex[:6]})."
    send(page, question)
    answer = page.get_by_test_id("stChatMessage").nth(1)
    expect(answer.get_by_test_id("stMarkdown").first).not_to_be_empty()  # first tokens
    page.get_by_test_id("stChatInputStopButton").click()
    expect(page.get_by_test_id("stChatInputSubmitButton")).to_be_visible()
    expect(answer.get_by_test_id("stFeedback")).to_have_count(0)  # it never finished

    # What the server kept: reopen the conversation from the sidebar after a fresh start.
    # The server stores the partial answer once it sees the hang-up, a moment after Stop;
    # reopening before that shows the conversation without it, so try for a few seconds.
    sidebar = page.get_by_test_id("stSidebar")
    for _ in range(20):
        press(sidebar.get_by_role("button", name="New conversation"))
        expect(page.get_by_test_id("stChatMessage")).to_have_count(0)
        press(sidebar.get_by_role("button", name=question[:20]))
        page.wait_for_timeout(500)
        # The question is stored when the turn starts, so it shows at once ("no answer was
        # saved"); the partial answer takes that note's place once the server stores it.
        if page.get_by_text("This answer was cut off before it finished.").count():
            break
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2)
    expect(page.get_by_text("This answer was cut off before it finished.")).to_be_visible()
