"""What each stage is sent: only the fields its input schema accepts (it forbids others)."""

from __future__ import annotations

from frontend.page import request_payload
from frontend.sidebar import ChatOptions


def test_plain_stages_send_only_the_question() -> None:
    for stage in ("simple", "formatted"):
        payload = request_payload(ChatOptions(stage=stage, k=3), "hi", "ann", "s1")
        assert payload == {"question": "hi"}


def test_chat_sends_identity_and_every_tunable() -> None:
    options = ChatOptions(
        "chat", k=3, filter={"topic": {"$in": ["howto"]}}, mode="hybrid", alpha=0.7
    )
    payload = request_payload(options, "hi", "ann", "s1")
    request_id = payload.pop("request_id")
    assert isinstance(request_id, str) and len(request_id) == 32
    assert payload == {
        "question": "hi",
        "username": "ann",
        "session_id": "s1",
        "k": 3,
        "filter": {"topic": {"$in": ["howto"]}},
        "mode": "hybrid",
        "alpha": 0.7,
    }


def test_each_question_gets_its_own_request_id() -> None:
    options = ChatOptions("history")
    ids = {request_payload(options, "hi", "ann", "s1")["request_id"] for _ in range(3)}
    assert len(ids) == 3
