"""The three states a deployment's local index can be in before it holds documents.

missing (no folder: a fresh deployment), empty (a version with no chunks: every document
deleted), unreadable (a manifest that cannot be parsed: a broken disk or a bad copy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chains.index.chunks import Chunk
from chains.index.local import LocalHybridIndex


def empty_index(path: Path) -> None:
    """A published version with no chunks: one document added, then deleted."""
    index = LocalHybridIndex.open(path, create=True)
    index.upsert([Chunk("gone soon", {"source": "gone.md"})], np.ones((1, 4), dtype=np.float32))
    assert index.delete_source("gone.md") == 1
    assert (path / "manifest.json").is_file()


def unreadable_index(path: Path) -> None:
    """An index folder whose manifest is not JSON."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").write_text("{not json", encoding="utf-8")
