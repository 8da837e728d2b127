"""The Streamlit app, run headless by AppTest, against a real backend process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from tests.utils.corpus import ingest_corpus
from tests.utils.processes import backend, free_port

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "frontend" / "app.py")
MAX_QUESTION_CHARS = 40


@pytest.fixture(scope="module")
def backend_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("frontend-backend")
    ingest_corpus(tmp / "data")  # the backend's DATA_DIR
    with backend(tmp, MAX_NEW_TOKENS="16", MAX_QUESTION_CHARS=str(MAX_QUESTION_CHARS)) as url:
        # Load the embedding model now, so no single test pays the cold start.
        warm = httpx.post(
            f"{url}/retrieve/invoke", json={"input": {"query": "socket", "k": 1}}, timeout=300
        )
        assert warm.status_code == 200, warm.text
        yield url


def start_app(
    monkeypatch: pytest.MonkeyPatch, url: str, username: str | None = None, **env: str
) -> AppTest:
    monkeypatch.setenv("BACKEND_URL", url)
    monkeypatch.delenv("RAGCHAT_API_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    if username:
        at.sidebar.text_input(key="username").set_value(username).run()
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def conversation_buttons(at: AppTest) -> list:
    return [b for b in at.sidebar.button if (b.key or "").startswith("open-")]


def user_name() -> str:
    return f"fe-{uuid.uuid4().hex[:8]}"


def test_answer_streams_in_and_conversation_is_listed(
    monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    username = user_name()
    at = start_app(monkeypatch, backend_url, username)
    assert not conversation_buttons(at)
    ask(at, "What is a vector index?")

    user, assistant = at.chat_message[0], at.chat_message[1]
    assert user.name == "user" and user.markdown[0].value == "What is a vector index?"
    assert assistant.name == "assistant"
    assert not assistant.error, assistant.error[0].value
    assert assistant.markdown and assistant.markdown[0].value.strip()
    pages = assistant.expander  # one per page, its chunks inside
    assert pages and pages[0].label.startswith("[1")
    labels = [page.label.partition("] ")[2] for page in pages]
    assert len(labels) == len(set(labels))  # no page listed twice
    numbers = [n for p in pages for n in p.label[1 : p.label.index("]")].split(", ")]
    assert sorted(map(int, numbers)) == list(range(1, len(numbers) + 1))
    assert all(e.text and e.text[0].value.strip() for e in pages)  # each chunk's text
    at.run()  # a rerun draws the conversation from the backend's list
    titles = [b.label for b in conversation_buttons(at)]
    assert titles == ["What is a vector index?"]
    listed = httpx.get(f"{backend_url}/sessions", params={"username": username}).json()
    assert [s["message_count"] for s in listed] == [2]
    assert conversation_buttons(at)[0].key == f"open-{listed[0]['id']}"


def test_feedback_is_stored_and_shown_when_reopened(
    monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    username = user_name()
    at = ask(start_app(monkeypatch, backend_url, username), "Name a colour.")
    assert len(at.feedback) == 1 and at.feedback[0].value is None
    at.feedback[0].set_value(0).run()  # thumbs down
    assert not at.error, [e.value for e in at.error]

    session_id = httpx.get(f"{backend_url}/sessions", params={"username": username}).json()[0]["id"]
    stored = httpx.get(
        f"{backend_url}/sessions/{session_id}/messages", params={"username": username}
    ).json()
    assert [m["feedback_score"] for m in stored] == [None, -1]

    fresh = start_app(monkeypatch, backend_url, username)  # a new browser tab
    assert not fresh.chat_message
    conversation_buttons(fresh)[0].click().run()
    assert [m.name for m in fresh.chat_message] == ["user", "assistant"]
    assert fresh.chat_message[1].markdown[0].value == stored[1]["content"]
    assert [f.value for f in fresh.feedback] == [0]


def test_delete_removes_the_conversation(monkeypatch: pytest.MonkeyPatch, backend_url: str) -> None:
    username = user_name()
    at = ask(start_app(monkeypatch, backend_url, username), "Say hello.")
    at.run()
    delete = [b for b in at.sidebar.button if (b.key or "").startswith("delete-")]
    assert len(delete) == 1
    delete[0].click().run()
    assert not conversation_buttons(at)
    assert not at.chat_message  # the open conversation was the deleted one
    assert httpx.get(f"{backend_url}/sessions", params={"username": username}).json() == []


def test_plain_stage_streams_text_without_sources_or_feedback(
    monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    at = start_app(monkeypatch, backend_url, user_name())
    at.sidebar.selectbox(key="stage").set_value("simple").run()
    ask(at, "Name a fruit.")
    assistant = at.chat_message[1]
    assert assistant.markdown[0].value.strip()
    assert not assistant.expander and not at.feedback and not assistant.error


def test_over_long_question_shows_the_backends_422_readably(
    monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    at = ask(start_app(monkeypatch, backend_url, user_name()), "x" * (MAX_QUESTION_CHARS + 5))
    errors = [e.value for e in at.chat_message[1].error]
    assert errors == [
        "The backend did not accept the request (HTTP 422): question: "
        f"String should have at most {MAX_QUESTION_CHARS} characters"
    ]


def test_raw_filter_limits_the_sources(monkeypatch: pytest.MonkeyPatch, backend_url: str) -> None:
    at = start_app(monkeypatch, backend_url, user_name())
    at.sidebar.radio(key="filter_how").set_value("Raw JSON").run()
    at.sidebar.text_area(key="filter_json").set_value('{"topic": "howto"}').run()
    ask(at, "How do I open a socket?")
    labels = [e.label for e in at.chat_message[1].expander]
    assert labels and all(label.endswith("`samples/howto/sockets.md`") for label in labels)


def test_picked_metadata_values_filter_the_sources(
    monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    at = start_app(monkeypatch, backend_url, user_name())
    picker = at.sidebar.multiselect(key="filter_pick_year")
    assert sorted(picker.options) == ["2023", "2024"]  # from GET /index/stats
    picker.set_value(["2023"]).run()  # stats give "2023"; the chunks hold the int 2023
    ask(at, "How do I create a virtual environment?")
    labels = [e.label for e in at.chat_message[1].expander]
    assert labels and all(label.endswith("`samples/tutorial/venv.md`") for label in labels)


def test_malformed_raw_filter_is_not_sent(
    monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    username = user_name()
    at = start_app(monkeypatch, backend_url, username)
    at.sidebar.radio(key="filter_how").set_value("Raw JSON").run()
    at.sidebar.text_area(key="filter_json").set_value("{topic: howto}").run()
    assert at.sidebar.error[0].value.startswith("The filter is not valid JSON")
    ask(at, "Anything?")
    assert at.chat_message[1].error[0].value.startswith("Not sent: The filter is not valid JSON")
    assert httpx.get(f"{backend_url}/sessions", params={"username": username}).json() == []


def test_unknown_filter_operator_shows_the_backends_422(
    monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    at = start_app(monkeypatch, backend_url, user_name())
    at.sidebar.radio(key="filter_how").set_value("Raw JSON").run()
    at.sidebar.text_area(key="filter_json").set_value('{"year": {"$foo": 1}}').run()
    ask(at, "Anything?")
    error = at.chat_message[1].error[0].value
    assert error.startswith("The backend did not accept the request (HTTP 422): filter:")
    assert "$foo" in error


def test_backend_down_is_a_readable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    at = start_app(monkeypatch, url)
    expected = f"Cannot reach the backend at {url}: is it running?"
    assert any(e.value.startswith(expected) for e in at.sidebar.error)
    ask(at, "Hello?")
    assert at.chat_message[1].error[0].value.startswith(expected)


@pytest.mark.slow
def test_api_keys_wrong_key_401_right_key_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with backend(tmp_path, MAX_NEW_TOKENS="8", API_KEYS="dora:key-dora-123") as url:
        at = start_app(monkeypatch, url, RAGCHAT_API_KEY="wrong-key")
        assert at.sidebar.text_input(key="api_key").value == "wrong-key"
        ask(at, "Hello?")
        assert at.chat_message[1].error[0].value == (
            "The backend refused the API key (set it in the sidebar or RAGCHAT_API_KEY) "
            "(HTTP 401): invalid API key"
        )
        at.sidebar.text_input(key="api_key").set_value("key-dora-123").run()
        at.sidebar.selectbox(key="stage").set_value("history").run()  # this backend has no index
        ask(at, "Hello again?")
        assert not at.chat_message[-1].error, at.chat_message[-1].error[0].value
        assert at.chat_message[-1].markdown[0].value.strip()
        headers = {"Authorization": "Bearer key-dora-123"}
        assert len(httpx.get(f"{url}/sessions", headers=headers).json()) == 1


@pytest.mark.slow
def test_history_database_down_is_a_readable_503(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    with backend(tmp_path, MAX_NEW_TOKENS="8", DATABASE_URL=dead) as url:
        at = ask(start_app(monkeypatch, url, user_name()), "Hello?")
        error = at.chat_message[1].error[0].value
        assert error.startswith("The backend is unavailable right now (HTTP 503)")
