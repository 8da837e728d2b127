"""How much context the model needs: CONTEXT_TOKENS → accuracy → TTFT, one server per budget.

`samples/` is ingested once; for each budget a server with the shipped settings (the model
`LLM_MODEL` names, the default unless set) answers one half of `bench/data/answers.jsonl`
through the given stages. The tune half chooses a preset's budget; the test half only
reports the choice. With `formatted` among the stages (the same model, closed book), it
also counts how often `/chat` is right where the model alone is wrong: what retrieval adds.

    python -m bench.context_curve --budgets 60,90,150,300 [--split tune] [--stages chat]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.answer_quality import (
    MAX_NEW_TOKENS,
    TokenCounter,
    load_questions,
    retrieval_adds,
    run_stage,
    summarize,
)
from bench.launch import REAL_APP, serve, stop_servers_on_sigterm
from bench.report import Row, render_table
from bench.stats import median, ms
from bench.synthetic_index import ingested_samples

NAME = "context curve"


def curve(budgets: list[int], split: str, stages: list[str], env: dict[str, str]) -> list[Row]:
    questions = [q for q in load_questions() if q.split == split]
    rows: list[Row] = []
    with ingested_samples("bench-context-") as settings:
        count = TokenCounter(settings)
        for budget in budgets:
            server_env = {"MAX_NEW_TOKENS": MAX_NEW_TOKENS, "CONTEXT_TOKENS": str(budget), **env}
            with serve(REAL_APP, settings.data_dir.parent, server_env, timeout=600) as server:
                asyncio.run(run_stage(server.url, "chat", questions[:1], count))  # warm
                runs = {s: asyncio.run(run_stage(server.url, s, questions, count)) for s in stages}
            for stage, outcomes in runs.items():
                s = summarize(outcomes)
                label = f"/{stage}, {split} half, CONTEXT_TOKENS={budget}"
                rows += [
                    Row(NAME, f"{label}: accuracy", s.accuracy, "", note=f"{s.n} questions"),
                    Row(NAME, f"{label}: citation validity", s.cited, ""),
                    Row(NAME, f"{label}: TTFT p50 first", ms(median(s.ttft_first)), "ms"),
                    Row(NAME, f"{label}: TTFT p50 follow-up", ms(median(s.ttft_follow)), "ms"),
                    Row(NAME, f"{label}: prompt tokens p50", s.prompt_tokens, "tokens"),
                ]
            if "formatted" in runs and "chat" in runs:
                share, n = retrieval_adds(runs["chat"], runs["formatted"])
                rows.append(
                    Row(
                        NAME,
                        f"/chat right where closed book is wrong, CONTEXT_TOKENS={budget}",
                        share,
                        "",
                        note=f"{n} questions",
                    )
                )
            for stage, outcomes in runs.items():  # each answer, to read what went wrong
                for o in outcomes:
                    line = f"{budget}\t{stage}\t{o.right:d}\t{o.cited:d}\t{o.ttft or 0:.2f}"
                    print(f"{line}\t{o.prompt_tokens}\t{o.question.id}\t{o.answer!r}", flush=True)
            print(render_table(rows[-6 * len(runs) :]), flush=True)
    return rows


def main() -> None:
    stop_servers_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budgets", default="60,90,150,300")
    parser.add_argument("--split", choices=("tune", "test"), default="tune")
    parser.add_argument("--stages", default="chat", help="comma-separated, e.g. formatted,chat")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    budgets = [int(b) for b in args.budgets.split(",")]
    print(render_table(curve(budgets, args.split, args.stages.split(","), env)))


if __name__ == "__main__":
    main()
