"""Unit-length vectors: cosine similarity as a dot product, wherever vectors are compared."""

from __future__ import annotations

from typing import Any

import numpy as np


def unit(vector: Any) -> np.ndarray:
    """One vector scaled to length 1 (a zero vector stays zero), as float32."""
    v = np.asarray(vector, dtype=np.float32).ravel()
    return v / (np.linalg.norm(v) or 1.0)


def unit_rows(vectors: Any) -> np.ndarray:
    """Each row scaled to length 1 (zero rows stay zero), as float32."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)
