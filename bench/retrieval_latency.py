"""Search latency of LocalHybridIndex next to a brute-force numpy floor, and ingest speed.

1. Synthetic corpora (10k and 100k chunks: random unit 384-d vectors, Zipf-distributed
   words, year/lang/draft metadata): p50/p95 over the same queries of
   - the floor: fp32 matvec + precomputed boolean mask + argpartition, nothing else;
   - LocalHybridIndex.search in dense, sparse and hybrid modes, with and without a filter
     (the index compiles the filter, scores BM25, fuses, and builds the result objects).
2. Ingest end to end (parse, split into 1,000-character chunks, embed, write the index)
   over samples/ with each embedding backend; torch fp32 (plain sentence-transformers) is
   the baseline, and the row marked `auto` is what `INGEST_EMBEDDING_BACKEND` picks here.

    python -m bench.retrieval_latency [--quick] [--out results.md] [--data-dir ./data]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import markdown_table
from chains.embeddings.factory import get_embeddings
from chains.index.chunks import Chunk
from chains.index.local import LocalHybridIndex
from chains.ingest.pipeline import ingest
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DIM, WORDS_PER_CHUNK, VOCABULARY, K = 384, 100, 30_000, 5
FILTER = {"year": {"$gte": 2000}, "lang": {"$in": ["en", "de"]}, "draft": False}
LANGS = np.array(["en", "de", "fr", "es", "it"])


def synthetic(n: int, rng: np.random.Generator) -> tuple[list[Chunk], np.ndarray]:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ranks = np.minimum(rng.zipf(1.3, size=(n, WORDS_PER_CHUNK)), VOCABULARY)
    years, langs = rng.integers(1990, 2025, size=n), LANGS[rng.integers(0, 5, size=n)]
    drafts = rng.random(n) < 0.2
    chunks = [
        Chunk(
            " ".join(f"w{r}" for r in ranks[i]),
            {
                "source": f"doc{i // 8}",
                "chunk": i % 8,
                "year": int(years[i]),
                "lang": str(langs[i]),
                "draft": bool(drafts[i]),
            },
        )
        for i in range(n)
    ]
    return chunks, vectors


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def timed(fn, queries) -> tuple[float, float]:
    fn(*queries[0])  # warm-up
    samples = []
    for query in queries:
        started = time.perf_counter()
        fn(*query)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def search_rows(n: int, n_queries: int, rng: np.random.Generator) -> list[list[str]]:
    chunks, vectors = synthetic(n, rng)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        LocalHybridIndex.open(Path(tmp), create=True).upsert(chunks, vectors)
        build = time.perf_counter() - started
        started = time.perf_counter()
        index = LocalHybridIndex.open(Path(tmp))
        load = time.perf_counter() - started
        words = np.minimum(rng.zipf(1.3, size=(n_queries, 3)), 2_000)
        queries = [
            (rng.normal(size=DIM).astype(np.float32), " ".join(f"w{w}" for w in row))
            for row in words
        ]
        mask = index.snapshot().meta.mask(FILTER)
        matrix = index.snapshot().vectors

        def floor(q, _text, use_mask=True):
            scores = matrix @ q
            if use_mask:
                scores = np.where(mask, scores, -np.inf)
            top = np.argpartition(-scores, K - 1)[:K]
            return top[np.argsort(-scores[top])]

        cases = [
            ("numpy floor: dense", lambda q, t: floor(q, t, use_mask=False)),
            ("numpy floor: dense + mask", floor),
            ("index: dense", lambda q, t: index.search(q, t, k=K, mode="dense")),
            ("index: sparse", lambda q, t: index.search(q, t, k=K, mode="sparse")),
            ("index: hybrid", lambda q, t: index.search(q, t, k=K, mode="hybrid")),
            (
                "index: dense + filter",
                lambda q, t: index.search(q, t, k=K, mode="dense", filter=FILTER),
            ),
            (
                "index: hybrid + filter",
                lambda q, t: index.search(q, t, k=K, mode="hybrid", filter=FILTER),
            ),
        ]
        timings = [(name, timed(fn, queries)) for name, fn in cases]
        floor_p50 = timings[1][1][0]
        rows = [
            [f"{n:,}", name, f"{p50:.2f}", f"{p95:.2f}", f"{p50 / floor_p50:.1f}x"]
            for name, (p50, p95) in timings
        ]
    rows.append(
        [
            f"{n:,}",
            f"(build {build:.1f} s, load {load:.2f} s, filter keeps {mask.mean():.0%})",
            "",
            "",
            "",
        ]
    )
    return rows


def ingest_rows(args: argparse.Namespace) -> list[list[str]]:
    folders = sorted(p for p in args.samples.iterdir() if p.is_dir())
    if args.quick:
        folders = [p for p in folders if p.name == "tutorial"] or folders[:1]
    rows = []
    # What `auto` picks here, by timing every backend on the first chunks (once per CPU).
    with tempfile.TemporaryDirectory() as tmp:
        auto = Settings(data_dir=args.data_dir, _env_file=None)
        store = LocalHybridIndex.open(Path(tmp), create=True)
        chosen = ingest(auto, folders[:1], store=store, progress=False).backend
    for backend in args.backends.split(","):
        settings = Settings(
            data_dir=args.data_dir, ingest_embedding_backend=backend, _env_file=None
        )
        started = time.perf_counter()
        embeddings = get_embeddings(settings, backend)
        embeddings.embed_query("warm up")
        load = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            store = LocalHybridIndex.open(Path(tmp), create=True)
            report = ingest(settings, folders, embeddings=embeddings, store=store, progress=False)
            snapshot = store.snapshot()
            lengths = [len(snapshot.text(i)) for i in range(len(snapshot))] or [0]
        rows.append(
            [
                f"{backend} (auto)" if backend == chosen else backend,
                f"{report.chunks}",
                f"{np.mean(lengths):.0f}",
                f"{report.seconds:.1f}",
                f"{report.chunks_per_second:.1f}",
                f"{load:.1f}",
            ]
        )
    return rows


def run(args: argparse.Namespace) -> str:
    rng = np.random.default_rng(0)
    sizes = [2_000] if args.quick else [10_000, 100_000]
    n_queries = 20 if args.quick else args.queries
    rows = [row for n in sizes for row in search_rows(n, n_queries, rng)]
    lines = [
        f"Search latency, top {K}, {n_queries} queries, filter {FILTER}",
        "",
        *markdown_table(["chunks", "what", "p50 ms", "p95 ms", "p50 / floor with mask"], rows),
        "",
        "Ingest end to end over samples/ (parse, split, embed, write the index)",
        "",
        *markdown_table(
            ["embeddings", "chunks", "avg chars", "seconds", "chunks/s", "model load s"],
            ingest_rows(args),
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / "samples")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="DATA_DIR for the run (the ONNX build is cached in MODELS_DIR or DATA_DIR/models)",
    )
    parser.add_argument("--backends", default="onnx-int8,torch-bf16,torch")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: smoke test")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    text = run(args)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
