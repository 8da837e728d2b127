"""What a model can read: each labelled question with only its evidence as the passages.

No retrieval and no server: every question of one half of `bench/data/answers.jsonl` is
asked with the model preset's own RAG prompt, its passages being the hand-copied sentence
that holds the answer (`evidence`), optionally with the evidence of `--distractors` other
questions around it (what a budget of a few passages looks like when retrieval is
perfect). A follow-up carries its earlier question as `/chat` does. This is the ceiling
any retrieval reaches with that model and prompt: when it is below a target, no passage
selection or budget gets there, and the model is what to change.

    python -m bench.reading_ceiling [--set answers|release_notes] [--split tune]
        [--model qwen2.5-coder-1.5b] [--distractors 2]

In the release-notes set the evidence is a changelog item that never names its release:
its passage carries the header ingest gives it (`<project> › <release>`), as in `/chat`.

`--model` takes a preset or a GGUF path (read through the same `LLM_MODEL` rules as the
server). Greedy decoding, so a run is repeatable.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from bench.llm_speed import ANSWERS, load
from bench.release_notes import QUESTIONS as RELEASE_NOTES
from bench.report import Row, render_table
from chains.models.presets import llm_model, prompt_style
from settings import Settings

NAME = "reading ceiling"
ANSWER_TOKENS = 64  # as bench.answer_quality's MAX_NEW_TOKENS
SETS = {"answers": ANSWERS, "release_notes": RELEASE_NOTES}


def turns(
    settings: Settings, labelled: Path, split: str, distractors: int
) -> list[tuple[dict[str, Any], Any]]:
    """(labelled row, chat messages) for each question of `split`, in file order."""
    from chains.passages import Passage
    from chains.prompts import EARLIER_QUESTION, RAG_PROMPTS
    from chains.retrieval import format_passages

    rows = [json.loads(line) for line in labelled.read_text().splitlines() if line.strip()]
    half = [r for r in rows if r["split"] == split]
    by_id = {r["id"]: r for r in rows}
    style = prompt_style(settings)
    fence = "heading" if style == "small" else "tags"
    out = []
    for i, row in enumerate(half):
        others = [half[(i + 7 * (k + 1)) % len(half)] for k in range(distractors)]
        chosen = [row, *others]
        # The evidence goes in the middle of the distractors: first place is the easy one.
        chosen.insert(len(others) // 2, chosen.pop(0))
        passages = [
            Passage(
                n,
                r["evidence"],
                r["source"].split("/")[0] if "section" in r else "",
                r.get("section", ""),
            )
            for n, r in enumerate(chosen, 1)
        ]
        earlier_row = by_id.get(row.get("follow_up_of") or "")
        earlier = EARLIER_QUESTION.format(question=earlier_row["question"]) if earlier_row else ""
        messages = RAG_PROMPTS[style].format_messages(
            context=format_passages(passages, fence),
            earlier=earlier,
            question=row["question"],
            history=[],
        )
        role = {"system": "system", "human": "user", "ai": "assistant"}
        out.append((row, [{"role": role[m.type], "content": str(m.content)} for m in messages]))
    return out


def ceiling(model: str, labelled: str, split: str, distractors: int) -> list[Row]:
    from chains.llm.gguf import model_gguf

    settings = Settings(llm_model=model)  # type: ignore[call-arg]
    path = model_gguf(settings)
    llm = load(path, settings.llm_threads or os.cpu_count() or 1)
    right = 0
    asked = turns(settings, SETS[labelled], split, distractors)
    try:
        for row, messages in asked:
            reply = llm.create_chat_completion(
                messages=messages, max_tokens=ANSWER_TOKENS, temperature=0.0
            )
            answer = reply["choices"][0]["message"]["content"] or ""
            facts = (row["fact"], *row.get("alternatives", []))
            hit = any(fact in answer for fact in facts)
            right += hit
            print(f"{int(hit)}\t{row['id']}\t{row['fact']}\t{answer[:160]!r}", flush=True)
    finally:
        llm.close()
    label = f"{labelled}, {path.name}, {prompt_style(settings)} prompt, {split} half"
    note = f"evidence + {distractors} other passages, {len(asked)} questions"
    return [Row(NAME, f"{label}: accuracy", right / len(asked), "", note=note)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", choices=tuple(SETS), default="answers", dest="labelled")
    parser.add_argument("--split", choices=("tune", "test"), default="tune")
    parser.add_argument("--model", default=None, help="a preset or a .gguf path")
    parser.add_argument("--distractors", type=int, default=0)
    args = parser.parse_args()
    model = args.model or llm_model(Settings())  # type: ignore[call-arg]
    print(render_table(ceiling(model, args.labelled, args.split, args.distractors)))


if __name__ == "__main__":
    main()
