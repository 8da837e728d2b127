"""A synthetic chunk index of any size, written with the production index writer.

Texts are drawn word by word from the unigram distribution of `samples/` (so real
questions share terms with them and BM25 has postings to walk); vectors are random
unit vectors (a scan costs the same whatever the vectors hold, and embedding 10k
chunks for real would take minutes). Metadata looks like ingest's.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from settings import Settings

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".html"}
FALLBACK_WORDS = ["python", "file", "module", "data", "read", "write"]
DIM = 384
WORDS_PER_CHUNK = 150


def sample_vocabulary(folder: Path = SAMPLES) -> tuple[list[str], np.ndarray]:
    """Words of the sample corpus and their probabilities."""
    counts: Counter[str] = Counter()
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.suffix in TEXT_SUFFIXES:
            text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8", errors="ignore"))
            counts.update(re.findall(r"[A-Za-z][A-Za-z_]{1,20}", text))
    if not counts:
        counts.update(FALLBACK_WORDS)
    words, freq = zip(*counts.most_common(), strict=True)
    probabilities = np.asarray(freq, dtype=np.float64)
    return list(words), probabilities / probabilities.sum()


def build_synthetic_index(index_dir: Path, chunks: int, seed: int = 0) -> None:
    """Write `chunks` synthetic chunks into a LocalHybridIndex at `index_dir`."""
    from chains.index.chunks import Chunk
    from chains.index.local import LocalHybridIndex

    rng = np.random.default_rng(seed)
    words, probabilities = sample_vocabulary()
    drawn = rng.choice(len(words), size=(chunks, WORDS_PER_CHUNK), p=probabilities)
    vectors = rng.normal(size=(chunks, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    per_source = 20
    records = [
        Chunk(
            " ".join(words[w] for w in row),
            {
                "source": f"synthetic/doc{i // per_source}.md",
                "title": f"Synthetic document {i // per_source}",
                "chunk": i % per_source,
                "year": int(2000 + i % 25),
            },
        )
        for i, row in enumerate(drawn)
    ]
    LocalHybridIndex.open(index_dir, create=True).upsert(records, vectors)


def share_model_cache(data_dir: Path) -> None:
    """Point `data_dir/models` at the repo's `data/models`, so the int8 ONNX embedding
    model is built once per checkout, not once per benchmark run."""
    cache = REPO / "data" / "models"
    cache.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    link = data_dir / "models"
    if not link.exists():
        os.symlink(cache, link, target_is_directory=True)


@contextmanager
def scratch_settings(prefix: str) -> Iterator[Settings]:
    """Settings of an empty temporary data folder (nothing read from `.env`) with the
    shared model cache; removed on exit."""
    from settings import Settings

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data_dir = Path(tmp) / "data"
        share_model_cache(data_dir)
        yield Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]


@contextmanager
def ingested_samples(prefix: str, paths: Sequence[Path] = (SAMPLES,)) -> Iterator[Settings]:
    """Settings of a temporary data folder (nothing read from `.env`) holding `paths`
    (files or folders) ingested, with the shared model cache; removed on exit."""
    from chains.ingest.pipeline import ingest

    with scratch_settings(prefix) as settings:
        ingest(settings, list(paths), progress=False)
        yield settings
