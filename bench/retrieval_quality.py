"""Retrieval quality on the labelled sample questions: dense vs sparse vs hybrid, per model.

Ingests `samples/` into a throwaway index once per embedding backend (onnx-int8, torch fp32)
and reports recall@5 and MRR@10 (rank of the first chunk from the gold source) for each
mode, with hybrid at several alphas, so the fusion weight is chosen on data.

    python bench/retrieval_quality.py [--quick] [--out results.md] [--data-dir ./data]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from chains.embeddings import get_embeddings
from chains.index import LocalHybridIndex
from chains.ingest import ingest
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
K_RECALL, K_MRR = 5, 10


def load_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rank_of_gold(sources: list[str], gold: str) -> int | None:
    for rank, source in enumerate(sources, start=1):
        if source == gold or source.endswith("/" + gold):
            return rank
    return None


def evaluate(index, embeddings, questions, mode: str, alpha: float) -> tuple[float, ...]:
    top1 = hits = reciprocal = 0.0
    for q in questions:
        vector = embeddings.embed_query(q["question"])
        results = index.search(vector, q["question"], k=K_MRR, mode=mode, alpha=alpha)
        rank = rank_of_gold([r.chunk.source for r in results], q["source"])
        top1 += rank == 1
        hits += rank is not None and rank <= K_RECALL
        reciprocal += 1.0 / rank if rank else 0.0
    n = len(questions)
    return top1 / n, hits / n, reciprocal / n


def run(args: argparse.Namespace) -> str:
    questions = load_questions(args.qa)
    backends = args.backends.split(",")
    alphas = [float(a) for a in args.alphas.split(",")]
    if args.quick:
        questions, alphas = questions[:4], alphas[:1]
    rows: list[list[str]] = []
    best: dict[str, tuple[float, float]] = {}
    for backend in backends:
        settings = Settings(data_dir=args.data_dir, embedding_backend=backend, _env_file=None)
        embeddings = get_embeddings(settings)
        with tempfile.TemporaryDirectory() as tmp:
            index = LocalHybridIndex.open(Path(tmp) / "index", create=True)
            paths = sorted(args.samples.iterdir())[:2] if args.quick else [args.samples]
            report = ingest(
                settings,
                [p for p in paths if p.is_dir() or p.suffix != ".py"],
                embeddings=embeddings,
                store=index,
                progress=False,
            )
            runs = [("dense", 1.0), ("sparse", 0.0)] + [("hybrid", a) for a in alphas]
            for mode, alpha in runs:
                started = time.perf_counter()
                top1, recall, mrr = evaluate(index, embeddings, questions, mode, alpha)
                per_query = (time.perf_counter() - started) / len(questions) * 1000
                label = f"hybrid α={alpha:g}" if mode == "hybrid" else mode
                rows.append(
                    [
                        backend,
                        label,
                        f"{top1:.3f}",
                        f"{recall:.3f}",
                        f"{mrr:.3f}",
                        f"{per_query:.1f}",
                    ]
                )
                if mode == "hybrid" and (mrr, recall) > best.get(backend, (-1, -1))[:2]:
                    best[backend] = (mrr, recall, alpha)  # type: ignore[assignment]
        rows.append([backend, f"({report.chunks} chunks)", "", "", "", ""])
    header = [
        "embeddings",
        "mode",
        "recall@1",
        f"recall@{K_RECALL}",
        f"MRR@{K_MRR}",
        "ms/query (incl. embedding)",
    ]
    lines = [
        f"Retrieval quality: {len(questions)} labelled questions over samples/"
        + (f" plus distractors from {', '.join(map(str, args.extra))}" if args.extra else ""),
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        *(
            f"best hybrid alpha for {b} (by MRR, then recall@5): {v[2]:g} "
            f"(MRR {v[0]:.3f}, recall@5 {v[1]:.3f})"
            for b, v in best.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / "samples")
    parser.add_argument("--qa", type=Path, default=ROOT / "bench/data/retrieval_qa.jsonl")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="DATA_DIR for the run (the ONNX build is cached in MODELS_DIR or DATA_DIR/models)",
    )
    parser.add_argument("--backends", default="onnx-int8,torch")
    parser.add_argument("--alphas", default="0.5,0.2,0.3,0.4,0.6,0.7,0.8,0.9")
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="a folder of distractor documents to ingest too (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="a few questions: smoke test")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    table = run(args)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
