"""Retrieval quality on the labelled sample questions: dense vs sparse vs hybrid, per model.

Ingests `samples/` into a throwaway index once per pairing of embedding backends
(`DOCS/QUERIES`: documents embedded by one runtime, queries by another, same weights) and
reports recall@5 and MRR@10 (rank of the first chunk from the gold source) for each mode,
with hybrid at several alphas, so the fusion weight is chosen on data. The last lines say,
per pairing, whether hybrid at the default `HYBRID_ALPHA` is at least as good as the better
of dense and sparse on both figures.

Pairings: `torch-bf16/onnx-int8` is what the defaults run on a CPU with AMX or AVX512-BF16,
`onnx-int8/onnx-int8` elsewhere; `torch/torch` is the fp32 reference.

    python -m bench.retrieval_quality [--quick] [--out results.md] [--data-dir ./data]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.report import markdown_table
from chains.embeddings import get_embeddings
from chains.index.local import LocalHybridIndex
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


VERDICT_HEADER = [
    "pairing",
    f"hybrid recall@{K_RECALL}",
    f"best single recall@{K_RECALL}",
    "hybrid MRR",
    "best single MRR",
    "verdict",
]


def pairing(spec: str) -> tuple[str, str]:
    """`DOCS/QUERIES` or one backend for both."""
    docs, _, queries = spec.partition("/")
    return docs, queries or docs


def run(args: argparse.Namespace) -> str:
    questions = load_questions(args.qa)
    default_alpha = Settings(_env_file=None).hybrid_alpha
    alphas = sorted({default_alpha, *(float(a) for a in args.alphas.split(","))})
    if args.quick:
        questions, alphas = questions[:4], [default_alpha]
    rows: list[list[str]] = []
    verdicts: list[str] = []
    for spec in args.backends.split(","):
        docs, queries = pairing(spec)
        settings = Settings(
            data_dir=args.data_dir,
            embedding_backend=queries,
            ingest_embedding_backend=docs,
            _env_file=None,
        )
        doc_embeddings = get_embeddings(settings, docs)
        query_embeddings = get_embeddings(settings, queries)
        label = f"{docs}/{queries}"
        with tempfile.TemporaryDirectory() as tmp:
            index = LocalHybridIndex.open(Path(tmp) / "index", create=True)
            paths = sorted(args.samples.iterdir())[:2] if args.quick else [args.samples]
            report = ingest(
                settings,
                [p for p in paths if p.is_dir() or p.suffix != ".py"],
                embeddings=doc_embeddings,
                store=index,
                progress=False,
            )
            results: dict[tuple[str, float], tuple[float, ...]] = {}
            runs = [("dense", 1.0), ("sparse", 0.0)] + [("hybrid", a) for a in alphas]
            for mode, alpha in runs:
                started = time.perf_counter()
                figures = evaluate(index, query_embeddings, questions, mode, alpha)
                results[mode, alpha] = figures
                per_query = (time.perf_counter() - started) / len(questions) * 1000
                name = f"hybrid α={alpha:g}" if mode == "hybrid" else mode
                if mode == "hybrid" and alpha == default_alpha:
                    name += " (default)"
                rows.append([label, name, *(f"{f:.3f}" for f in figures), f"{per_query:.1f}"])
        rows.append([label, f"({report.chunks} chunks)", "", "", "", ""])
        singles = [results["dense", 1.0], results["sparse", 0.0]]
        hybrid = results["hybrid", default_alpha]
        best_recall, best_mrr = max(s[1] for s in singles), max(s[2] for s in singles)
        ok = hybrid[1] >= best_recall and hybrid[2] >= best_mrr
        verdicts.append(
            [
                label,
                f"{hybrid[1]:.3f}",
                f"{best_recall:.3f}",
                f"{hybrid[2]:.3f}",
                f"{best_mrr:.3f}",
                "PASS" if ok else "MISS",
            ]
        )
    header = [
        "embeddings (docs/queries)",
        "mode",
        "recall@1",
        f"recall@{K_RECALL}",
        f"MRR@{K_MRR}",
        "ms/query (incl. embedding)",
    ]
    lines = [
        f"Retrieval quality: {len(questions)} labelled questions over samples/",
        "",
        *markdown_table(header, rows),
        "",
        f"Hybrid at the default alpha ({default_alpha:g}) vs the better of dense and sparse:",
        "",
        *markdown_table(VERDICT_HEADER, verdicts),
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
    parser.add_argument(
        "--backends",
        default="torch-bf16/onnx-int8,onnx-int8/onnx-int8,torch/torch",
        help="comma-separated DOCS/QUERIES embedding backend pairings",
    )
    parser.add_argument("--alphas", default="0.1,0.15,0.25,0.3,0.4,0.5,0.6,0.7,0.8,0.9")
    parser.add_argument("--quick", action="store_true", help="a few questions: smoke test")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    table = run(args)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
