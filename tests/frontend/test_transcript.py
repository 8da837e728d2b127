"""Stored messages → the app's chat entries, including a question whose turn never ended."""

from __future__ import annotations

from frontend.transcript import from_stored


def stored(role: str, content: str, **extra: object) -> dict[str, object]:
    return {"id": f"{role}-{content}", "role": role, "content": content, **extra}


def test_a_question_without_an_answer_gets_an_empty_incomplete_one() -> None:
    entries = from_stored(
        [
            stored("human", "asked before the crash"),
            stored("human", "asked again"),
            stored("ai", "answered", incomplete=False, feedback_score=1),
            stored("human", "still unanswered"),
        ]
    )
    assert [(e["role"], e["content"], e.get("incomplete")) for e in entries] == [
        ("user", "asked before the crash", None),
        ("assistant", "", True),
        ("user", "asked again", None),
        ("assistant", "answered", False),
        ("user", "still unanswered", None),
        ("assistant", "", True),
    ]
    assert entries[1]["message_id"] is None  # no feedback on an answer that does not exist
    assert entries[3]["feedback"] == 1


def test_a_whole_conversation_is_unchanged() -> None:
    entries = from_stored([stored("human", "q"), stored("ai", "a", incomplete=True)])
    assert [(e["role"], e["content"]) for e in entries] == [("user", "q"), ("assistant", "a")]
    assert entries[1]["incomplete"] is True
