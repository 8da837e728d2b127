"""Retrieval quality on the hand-labelled questions: rules chosen on one half, judged on the other.

Ingests `samples/` once into a throwaway index with the configured embedding backends, then
computes, for every question, the dense (cosine) and sparse (BM25) score of every chunk.
Each fusion rule is a pure function of those two rows (and the question's text), so a whole
grid of rules costs milliseconds. Settings are chosen on the `tune` questions (their pages
never hold a `test` question) and the `test` half is reported as it falls.

Figures, at the page level (a question is answered by its page, not by one chunk):
* R@5: one of the question's pages is among the pages of the 5 chunks returned.
* MRR@10: 1 / rank of the first chunk from one of its pages among the first 10.
* two-page: every page of a question that needs two is among the 5 (12 questions).

    python -m bench.retrieval_quality [--quick] [--tune-only] [--out results.md] [--data-dir ./data]
        [--embedding-model all-mpnet-base-v2] [--dense-headings]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from bench.fusion_rules import (
    convex,
    dense_only,
    other_rules,
    pinecone_rules,
    query_dependent,
    sparse_only,
)
from bench.report import markdown_table
from bench.retrieval_scores import (
    K_MRR,
    K_RECALL,
    Figures,
    Rule,
    ScoreTable,
    answer_in_context,
    gold_pages,
    measure,
    paired_interval,
    per_question,
)
from chains.embeddings.factory import get_embeddings
from chains.embeddings.vectors import unit, unit_rows
from chains.index.local import LocalHybridIndex
from chains.ingest.pipeline import ingest
from chains.models.embedding_model import embedding_model_folder, query_backend
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
STYLES = ("keyword", "paraphrase")


def load_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- the run --------------------------------------------------------------------------


def score_table(
    settings: Settings, samples: list[Path], questions: list[dict], dense_headings: bool = False
) -> tuple[ScoreTable, str]:
    """The scores, and the backend that embedded the documents (what `auto` chose).

    With `dense_headings`, the embedding sees each chunk with its title and heading path in
    front (a variant measured on the tune half; the index itself embeds the chunk alone).
    """
    query_embeddings = get_embeddings(settings)
    with tempfile.TemporaryDirectory() as tmp:
        index = LocalHybridIndex.open(Path(tmp) / "index", create=True)
        report = ingest(settings, samples, store=index, progress=False)
        snapshot = index.snapshot()
        pages = np.array([_page(snapshot.meta.record(i)["source"]) for i in range(len(snapshot))])
        texts = [snapshot.text(i).lower() for i in range(len(snapshot))]
        vectors = snapshot.vectors
        if dense_headings:
            from bench.release_notes import with_heading_text
            from chains.embeddings.factory import embed_texts

            placed = [with_heading_text(snapshot.chunk(i)) for i in range(len(snapshot))]
            vectors = unit_rows(
                embed_texts(get_embeddings(settings, report.backend or None), placed)
            )
        dense = np.stack(
            [vectors @ unit(query_embeddings.embed_query(q["question"])) for q in questions]
        )
        sparse_rows = np.stack([snapshot.sparse_scores(q["question"]) for q in questions])
    return ScoreTable(questions, dense, sparse_rows, pages, texts), report.backend or "?"


def _page(source: str) -> str:
    """`samples/library/json.html` as the labels name it: `library/json.html`."""
    parts = Path(source).parts
    return "/".join(parts[-2:])


def split_by(table: ScoreTable, split: str) -> dict[str, ScoreTable]:
    half = table.subset(lambda q: q["split"] == split)
    return {
        "all": half,
        **{style: half.subset(lambda q, s=style: q["style"] == s) for style in STYLES},
    }


def balanced_mrr(parts: dict[str, ScoreTable], rule: Rule, cap: int | None) -> float:
    """The mean of the two styles' MRR: each style counts the same, whatever its size.

    MRR rather than R@5: on 35 questions of a style, R@5 moves in steps of three points
    and ties across most settings; the rank of the first right chunk separates them.
    """
    return float(np.mean([measure(parts[style], rule, cap).mrr for style in STYLES]))


def best(rules: dict[str, Rule], parts: dict[str, ScoreTable], cap: int | None) -> str:
    return max(rules, key=lambda name: balanced_mrr(parts, rules[name], cap))


def row(name: str, parts: dict[str, ScoreTable], rule: Rule, cap: int | None) -> list[str]:
    figures = {key: measure(part, rule, cap) for key, part in parts.items()}
    return [
        name,
        *(f"{figures[s].recall:.3f} / {figures[s].mrr:.3f}" for s in STYLES),
        f"{figures['all'].recall:.3f}",
        f"{figures['all'].mrr:.3f}",
        f"{figures['all'].two_page:.2f}",
    ]


def cap_label(cap: int | None) -> str:
    return "no cap" if cap is None else f"cap {cap}"


def run(args: argparse.Namespace) -> str:
    questions = [{**q, "set": "retrieval"} for q in load_questions(args.qa)]
    answers = [
        {**q, "set": "answers"} for q in load_questions(args.answers) if not q["follow_up_of"]
    ]
    shipped = Settings(data_dir=args.data_dir, _env_file=None, **embedder_settings(args))
    samples = [p for p in sorted(args.samples.iterdir()) if p.is_dir()]
    if args.quick:
        pages = {"library/json.html", "library/tempfile.html", "library/heapq.html"}
        questions = [q for q in questions if gold_pages(q) <= pages][:12]
        answers = [q for q in answers if q["source"] in pages][:6]
        samples = [args.samples / "library"]
    table, doc_backend = score_table(
        shipped, samples, questions + answers, dense_headings=args.dense_headings
    )
    retrieval = table.subset(lambda q: q["set"] == "retrieval")
    facts = table.subset(lambda q: q["set"] == "answers")
    tune, test = split_by(retrieval, "tune"), split_by(retrieval, "test")
    facts_tune = facts.subset(lambda q: q["split"] == "tune")
    facts_test = facts.subset(lambda q: q["split"] == "test")

    # Decision 1, on the tune half: the per-page cap, by how often the 5 chunks the model
    # reads hold the answer, averaged over every shipped rule (not tuned to one of them).
    ours = pinecone_rules(args.quick)
    caps: list[int | None] = [None, 1, 2, 3]
    in_context = {
        cap: float(np.mean([answer_in_context(facts_tune, r, cap) for r in ours.values()]))
        for cap in caps
    }
    cap = max(caps, key=lambda c: (in_context[c], c is None))
    # Decision 2, on the tune half: the rule, by balanced MRR at that cap.
    chosen = best(ours, tune, cap)
    others = other_rules(args.quick)
    compared = {
        family: best({n: r for n, r in others.items() if n.startswith(family)}, tune, cap)
        for family in ("min-max", "RRF")
    }

    header = [
        "rule",
        f"keyword R@{K_RECALL} / MRR",
        f"paraphrase R@{K_RECALL} / MRR",
        f"all R@{K_RECALL}",
        f"all MRR@{K_MRR}",
        "two-page",
    ]
    cap_rows = [
        [
            cap_label(c),
            f"{in_context[c]:.3f}",
            f"{measure(tune['all'], ours[chosen], c).recall:.3f}",
            f"{answer_in_context(facts_test, ours[chosen], c):.3f}",
            f"{measure(test['all'], ours[chosen], c).recall:.3f}",
        ]
        for c in caps
    ]
    singles = [("dense", dense_only), ("sparse", sparse_only)]
    shipped_rule = query_dependent(shipped.hybrid_alpha, shipped.hybrid_alpha_code)
    tune_rows = [
        *(row(name, tune, rule, cap) for name, rule in singles),
        row(f"{chosen} (chosen)", tune, ours[chosen], cap),
        *(row(name, tune, others[name], cap) for name in compared.values()),
        row("shipped rule", tune, shipped_rule, shipped.max_chunks_per_source),
    ]
    title = (
        f"Retrieval quality: {len(questions)} hand-labelled questions over samples/ "
        f"({len(table.pages)} chunks), plus the answer set's {len(answers)} first "
        f"questions for whether the answer is in context; embeddings "
        f"{Path(embedding_model_folder(shipped)).name}, {doc_backend} (documents) / "
        f"{query_backend(shipped)} (queries)"
    )
    if args.tune_only:  # choosing defaults: the test half stays unseen
        return "\n".join(
            [
                title,
                "",
                f"chosen on the tune half: {cap_label(cap)}, {chosen}",
                "",
                *markdown_table(header, tune_rows),
            ]
        )
    shipped_cap = shipped.max_chunks_per_source
    shipped_name = (
        f"shipped: HYBRID_ALPHA={shipped.hybrid_alpha:g}, "
        f"HYBRID_ALPHA_CODE={shipped.hybrid_alpha_code:g}, {cap_label(shipped_cap)}"
    )
    test_rows = [
        *(row(name, test, rule, shipped_cap) for name, rule in singles),
        row("convex α=0.2 (the previous default)", test, convex(0.2), shipped_cap),
        row(f"{chosen} (chosen on tune)", test, ours[chosen], cap),
        *(row(name, test, others[name], cap) for name in compared.values()),
        row(shipped_name, test, shipped_rule, shipped_cap),
    ]
    n_tune, n_test = len(tune["all"].questions), len(test["all"].questions)
    return (
        "\n".join(
            [
                title,
                "",
                "Per-page cap, chosen on the tune half by answer in context (mean over the "
                f"shipped rules); chose {cap_label(cap)}:",
                "",
                *markdown_table(
                    [
                        "cap",
                        "tune: answer in context",
                        f"tune: page R@{K_RECALL}",
                        "test: answer in context",
                        f"test: page R@{K_RECALL}",
                    ],
                    cap_rows,
                ),
                "",
                f"Tune half ({n_tune} questions), {cap_label(cap)}: the rule chosen by balanced "
                "MRR among those one Pinecone query computes, and the best of the others",
                "",
                *markdown_table(header, tune_rows),
                "",
                f"Test half ({n_test} questions), never used to choose anything:",
                "",
                *markdown_table(header, test_rows),
                "",
                f"Verdicts on the test half ({shipped_name}):",
                "",
                *markdown_table(
                    ["target", "measured", "verdict"], verdict_rows(test, shipped_rule, shipped_cap)
                ),
            ]
        )
        + "\n"
    )


def embedder_settings(args: argparse.Namespace) -> dict[str, str]:
    """Settings that put another sentence-transformers folder on both sides, on torch.

    The ONNX int8 build is made for BERT-shaped MiniLM: all-mpnet-base-v2, for one, takes
    no token_type_ids and its dynamically quantised vectors drift to cosine 0.88 of fp32.
    """
    if not args.embedding_model:
        return {}
    return {
        "embedding_model": str(args.embedding_model),
        "embedding_backend": "torch",
        "ingest_embedding_backend": "torch",
    }


def verdict_rows(test: dict[str, ScoreTable], rule: Rule, cap: int | None) -> list[list[str]]:
    rows = []
    hybrid = {key: measure(part, rule, cap) for key, part in test.items()}
    singles = {
        name: {key: measure(part, single, cap) for key, part in test.items()}
        for name, single in (("dense", dense_only), ("sparse", sparse_only))
    }
    rows.append(
        [
            f"hybrid R@{K_RECALL} ≥ 0.92 (all)",
            f"{hybrid['all'].recall:.3f}{_short(0.92, hybrid['all'])}",
            _verdict(hybrid["all"].recall >= 0.92),
        ]
    )
    for style in STYLES:
        best = max(singles[name][style].recall for name in singles)
        rows.append(
            [
                f"hybrid R@{K_RECALL} ≥ dense and sparse ({style})",
                f"{hybrid[style].recall:.3f} vs {best:.3f}{_short(best, hybrid[style])}",
                _verdict(hybrid[style].recall >= best),
            ]
        )
    best_mrr = max(singles[name]["all"].mrr for name in singles)
    rows.append(
        [
            "hybrid MRR ≥ dense and sparse (all)",
            f"{hybrid['all'].mrr:.3f} vs {best_mrr:.3f}",
            _verdict(hybrid["all"].mrr >= best_mrr),
        ]
    )
    ours, dense = per_question(test["all"], rule, cap), per_question(test["all"], dense_only, cap)
    for label, index in ((f"R@{K_RECALL}", 0), ("MRR", 1)):
        low, high = paired_interval(ours[index], dense[index])
        rows.append(
            [
                f"hybrid − dense {label} (all), 95% paired bootstrap interval",
                f"{np.mean(ours[index] - dense[index]):+.3f} [{low:+.3f}, {high:+.3f}]",
                "information",
            ]
        )
    return rows


def _short(target: float, figures: Figures) -> str:
    """How many questions a recall below `target` is short of it: one question is noise."""
    missing = math.ceil(round((target - figures.recall) * figures.n, 6))
    if missing <= 0:
        return ""
    return f" ({missing} question{'s' if missing > 1 else ''} short of {figures.n})"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / "samples")
    parser.add_argument("--qa", type=Path, default=ROOT / "bench/data/retrieval_qa.jsonl")
    parser.add_argument("--answers", type=Path, default=ROOT / "bench/data/answers.jsonl")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="DATA_DIR for the run (the ONNX build is cached in MODELS_DIR or DATA_DIR/models)",
    )
    parser.add_argument("--quick", action="store_true", help="a few questions: smoke test")
    parser.add_argument(
        "--embedding-model",
        help="another model to measure instead of the bundled MiniLM, as EMBEDDING_MODEL takes "
        "it (all-mpnet-base-v2, or a sentence-transformers folder); run on torch fp32 for "
        "documents and queries (docs/retrieval.md)",
    )
    parser.add_argument(
        "--dense-headings",
        action="store_true",
        help="embed each chunk with its title and heading path in front (a variant, not shipped)",
    )
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--tune-only",
        action="store_true",
        help="print the tune half's choice only: for choosing defaults without seeing the test",
    )
    args = parser.parse_args()
    table = run(args)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
