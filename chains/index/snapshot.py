"""One immutable version of the local index in memory, and the exact-scan search over it.

Hand-written on numpy because the embedded engines we measured (Qdrant local, LanceDB,
Chroma) were far slower than an exact numpy scan once a metadata filter was added
(docs/retrieval.md has the figures).
"""

from __future__ import annotations

import json
import mmap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from chains.index import files as index_files
from chains.index import sparse
from chains.index.backend import MODES, REBUILD
from chains.index.chunks import Chunk, ScoredChunk
from chains.index.filter_mask import MetadataTable
from chains.index.passage_vectors import PassageVectors
from chains.index.passage_vectors import replaced as passages_replaced


class Snapshot:
    """Vectors, texts, metadata columns and the BM25 postings of one index version, and
    the chunks' passage vectors when ingest stored them (`passages`)."""

    def __init__(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        texts: bytes | mmap.mmap,
        offsets: np.ndarray,
        meta: MetadataTable,
        terms: list[str],
        tf: sp.csr_matrix,
        version: str = "",
        passages: PassageVectors | None = None,
    ) -> None:
        n = len(ids)
        if not (vectors.shape[0] == n == len(offsets) - 1 == meta.n == tf.shape[0]):
            raise ValueError("index files disagree on the number of chunks")
        if passages is not None and len(passages) != n:
            raise ValueError("index files disagree on the number of chunks with passages")
        self.passages = passages
        self._rows: dict[str, int] | None = None
        if tf.shape[1] != len(terms):
            raise ValueError("index files disagree on the number of terms")
        self.ids, self.vectors, self.meta, self.terms, self.tf = ids, vectors, meta, terms, tf
        self._texts, self._offsets, self.version = texts, offsets, version
        self.term_index = {t: i for i, t in enumerate(terms)}
        doc_len = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = float(doc_len.mean()) if n else 1.0
        rows = np.repeat(np.arange(n), np.diff(tf.indptr))
        weights = sparse.doc_weights(tf.data, doc_len[rows], avgdl)
        postings = sp.csr_matrix((weights, tf.indices, tf.indptr), shape=tf.shape).tocsc()
        self._post_ptr, self._post_docs, self._post_w = (
            postings.indptr,
            postings.indices,
            postings.data,
        )
        self.idf = sparse.idf(np.diff(postings.indptr), n)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls, dim: int = 0) -> Snapshot:
        return cls(
            np.array([], dtype="<U64"),
            np.zeros((0, dim), dtype=np.float32),
            b"",
            np.zeros(1, dtype=np.int64),
            MetadataTable([]),
            [],
            sp.csr_matrix((0, 0), dtype=np.float32),
        )

    def text(self, row: int) -> str:
        return bytes(self._texts[self._offsets[row] : self._offsets[row + 1]]).decode("utf-8")

    def chunk(self, row: int) -> Chunk:
        return Chunk(text=self.text(row), metadata=self.meta.record(row), id=str(self.ids[row]))

    def passage_vectors(self, chunk_id: str, text: str) -> np.ndarray | None:
        """The stored passage vectors of the chunk `chunk_id`, if this version holds that
        chunk with this very `text` (a source re-ingested since keeps its ids) and any."""
        if self.passages is None:
            return None
        if self._rows is None:
            self._rows = {str(chunk): row for row, chunk in enumerate(self.ids)}
        row = self._rows.get(chunk_id)
        if row is None or self.text(row) != text:
            return None
        vectors = self.passages.of(row)
        return vectors if len(vectors) else None

    # --- search -------------------------------------------------------------
    def sparse_scores(self, query_text: str) -> np.ndarray:
        """BM25 scores in [0, 1) for every chunk (see chains.index.sparse for the scale)."""
        scores = np.zeros(len(self), dtype=np.float32)
        tokens = sparse.tokenize([query_text])[0]
        cols = [self.term_index[t] for t in dict.fromkeys(tokens) if t in self.term_index]
        if not cols:
            return scores
        for col, weight in zip(cols, sparse.query_weights(self.idf[cols]), strict=True):
            lo, hi = self._post_ptr[col], self._post_ptr[col + 1]
            scores[self._post_docs[lo:hi]] += weight * self._post_w[lo:hi]
        return scores

    def search(
        self,
        query_vector: np.ndarray | None,
        query_text: str,
        *,
        k: int,
        filter: dict[str, Any] | None,
        mode: str,
        alpha: float,
    ) -> list[ScoredChunk]:
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; expected one of {MODES}")
        if len(self) == 0 or k <= 0:
            return []
        if mode == "sparse":
            scores = self.sparse_scores(query_text)
            scores[scores <= 0] = -np.inf  # a chunk sharing no term with the query is no hit
        else:
            if query_vector is None:
                raise ValueError(f"mode {mode!r} needs a query vector")
            q = np.asarray(query_vector, dtype=np.float32).ravel()
            q = q / (np.linalg.norm(q) or 1.0)
            scores = self.vectors @ q
            if mode == "hybrid" and alpha < 1.0:
                scores *= alpha
                scores += (1.0 - alpha) * self.sparse_scores(query_text)
        mask = self.meta.mask(filter)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        k = min(k, len(scores))
        # Partition the negated scores: numpy's introselect is pathologically slow (30x)
        # selecting the top end of an array with many -inf (filtered-out) entries.
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [ScoredChunk(self.chunk(int(i)), float(scores[i])) for i in top if scores[i] > -1e30]

    # --- building new versions ----------------------------------------------
    def replaced(
        self,
        remove: np.ndarray,
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> Snapshot:
        """A new snapshot without the rows in `remove` (bool mask) and with `chunks` added
        (with `passage_vectors`, one array per chunk, if given)."""
        keep = np.flatnonzero(~remove)
        term_index = dict(self.term_index)
        rows, cols, counts = [], [], []
        for row, tokens in enumerate(sparse.document_tokens(chunks)):
            for token, count in Counter(tokens).items():
                rows.append(row)
                cols.append(term_index.setdefault(token, len(term_index)))
                counts.append(count)
        n_terms = len(term_index)
        old_tf = self.tf[keep]
        old_tf.resize((len(keep), n_terms))
        shape = (len(chunks), n_terms)
        new_tf = sp.csr_matrix((counts, (rows, cols)), shape=shape, dtype=np.float32)
        tf = sp.vstack([old_tf, new_tf], format="csr")
        # Drop terms no chunk uses any more, so the vocabulary does not grow forever.
        used = np.flatnonzero(np.diff(tf.tocsc().indptr))
        terms_all = list(term_index)
        tf = tf[:, used].tocsr()
        tf.sort_indices()
        texts = [self.text(int(i)) for i in keep] + [c.text for c in chunks]
        encoded = [t.encode("utf-8") for t in texts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        dim = vectors.shape[1] if len(chunks) else self.vectors.shape[1]
        if len(self) and len(chunks) and dim != self.vectors.shape[1]:
            raise ValueError(
                f"vectors have {dim} dimensions, the index {self.vectors.shape[1]}: another "
                f"embedding model built it; {REBUILD}"
            )
        new_vectors = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), dim)
        norms = np.linalg.norm(new_vectors, axis=1, keepdims=True)
        new_vectors = new_vectors / np.where(norms == 0, 1.0, norms)
        records = [self.meta.record(int(i)) for i in keep] + [dict(c.metadata) for c in chunks]
        return Snapshot(
            np.concatenate([self.ids[keep], np.array([c.id for c in chunks], dtype="<U64")]),
            np.concatenate([self.vectors[keep].reshape(len(keep), dim), new_vectors]),
            b"".join(encoded),
            offsets,
            MetadataTable(records),
            [terms_all[i] for i in used],
            tf,
            passages=passages_replaced(self.passages, keep, passage_vectors, len(chunks), dim),
        )

    # --- persistence -----------------------------------------------------------
    def save(self, root: Path, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write this snapshot as a new version and make it current (under the write lock).

        `info` adds fields to the manifest (the embedding model's name).
        """
        arrays = {
            "ids": self.ids,
            "vectors": self.vectors,
            "text_offsets": self._offsets,
            "tf_data": self.tf.data.astype(np.float32),
            "tf_indices": self.tf.indices.astype(np.int32),
            "tf_indptr": self.tf.indptr.astype(np.int64),
        }
        if self.passages is not None:
            arrays["passage_offsets"] = self.passages.offsets
            arrays["passage_vectors"] = self.passages.vectors
        files = {
            "texts.bin": bytes(self._texts),
            "metadata.jsonl": self.meta.to_jsonl(),
            "terms.json": json.dumps(self.terms, ensure_ascii=False).encode(),
        }
        info = {
            **(info or {}),
            "count": len(self),
            "dim": int(self.vectors.shape[1]),
            "tokenizer": sparse.TOKENIZER,
        }
        manifest = index_files.write_version(root, arrays, files, info)
        self.version = manifest["version"]
        return manifest

    @classmethod
    def load(cls, folder: Path) -> Snapshot:
        load = index_files.load_array
        terms = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
        ids = load(folder, "ids")
        tf = sp.csr_matrix(
            (load(folder, "tf_data"), load(folder, "tf_indices"), load(folder, "tf_indptr")),
            shape=(len(ids), len(terms)),
        )
        with (folder / "texts.bin").open("rb") as f:
            size = f.seek(0, 2)
            texts = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        passages = None
        if (folder / "passage_offsets.npy").exists():  # written by ingest since passages
            passages = PassageVectors(
                load(folder, "passage_offsets"), load(folder, "passage_vectors")
            )
        return cls(
            ids,
            load(folder, "vectors"),
            texts,
            load(folder, "text_offsets"),
            MetadataTable.from_jsonl((folder / "metadata.jsonl").read_bytes()),
            terms,
            tf,
            version=folder.name,
            passages=passages,
        )
