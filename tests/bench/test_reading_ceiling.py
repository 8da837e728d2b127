"""The reading-ceiling bench asks what `/chat` would: the preset's prompt, the labelled
evidence among other questions' evidence, a follow-up with its earlier question, and a
release note's item with its release as the passage header. No model is loaded."""

from __future__ import annotations

from bench.reading_ceiling import SETS, turns
from settings import Settings


def test_the_evidence_sits_among_the_distractors_with_the_earlier_question() -> None:
    settings = Settings(llm_model="qwen2.5-coder-1.5b", _env_file=None)  # type: ignore[call-arg]
    asked = turns(settings, SETS["answers"], "tune", distractors=2)
    assert len(asked) == 40
    follow_up = next((row, m) for row, m in asked if row.get("follow_up_of"))
    row, messages = follow_up
    system, user = messages
    assert system["role"] == "system" and "Example:" in system["content"]
    passages = [line for line in user["content"].splitlines() if line.startswith("[")]
    assert len(passages) == 3 and passages[1] == f"[2] {row['evidence']}"  # not first
    assert "Earlier question: " in user["content"]
    assert user["content"].rstrip().endswith(f"Question: {row['question']}")


def test_a_release_note_item_carries_its_release_after_its_text() -> None:
    settings = Settings(llm_model="qwen2.5-coder-1.5b", _env_file=None)  # type: ignore[call-arg]
    row, messages = turns(settings, SETS["release_notes"], "test", distractors=0)[0]
    line = next(x for x in messages[1]["content"].splitlines() if x.startswith("[1]"))
    project = row["source"].split("/")[0]
    assert line.endswith(f"(from {project} › {row['section']})")
