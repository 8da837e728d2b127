"""Pinecone backend (`VECTOR_BACKEND=pinecone`): the same chunks, filters and fusion as local.

* Index: serverless, `metric="dotproduct"` (needed for sparse-dense), created on first use.
* Records: `values` = normalised dense vector, `sparse_values` = BM25 document weights from
  `chains.index.sparse` (hashed token ids), metadata = chunk metadata + the text under `text`
  (PineconeVectorStore's key, so both query routes read the same layout).
* Queries: "dense" goes through langchain-pinecone's PineconeVectorStore; "hybrid" and
  "sparse" send `alpha * dense` and `(1 - alpha) * bm25_query` to `Index.query`, which
  returns exactly the local index's fused score.
* BM25 corpus statistics are fitted at ingest and kept in a JSON file under DATA_DIR (never
  `BM25Encoder.default()`, which downloads); they also record each source's chunk count,
  so deleting a source deletes its ids (serverless indexes cannot delete by filter).
* Readers see the old or the new version of a document, never a mix. Pinecone has no
  multi-record transaction, so each write of a source gets a revision: its chunks go in
  under new ids carrying `doc_revision`, then the statistics file (replaced atomically)
  names the new revision, then the old revision's ids are deleted. Readers re-read that
  file when it changes and drop hits of any other revision (fetching 2k to keep k).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from chains.embeddings.vectors import unit, unit_rows
from chains.index import sparse
from chains.index.backend import REBUILD, IndexUnavailable, embedder_mismatch
from chains.index.chunks import REVISION_KEY, Chunk, ScoredChunk, chunk_id
from chains.index.files import file_signature
from chains.models.embedding_model import embedding_model_name

if TYPE_CHECKING:
    from settings import Settings

TEXT_KEY = "text"
OVERFETCH = 2  # hits asked for per hit returned: room for dropped other-revision chunks
UPSERT_BATCH = 100
DELETE_BATCH = 1000  # Pinecone's limit of ids per delete request


class _PrecomputedVectorsOnly(Embeddings):
    """The retriever embeds the query once for every mode, so the store never embeds."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError("PineconeStore receives precomputed vectors")

    def embed_query(self, text: str) -> list[float]:
        raise NotImplementedError("PineconeStore receives precomputed vectors")


class PineconeStore:
    """Upsert, delete and search one Pinecone index namespace."""

    def __init__(
        self,
        index: Any,
        *,
        namespace: str,
        stats_path: Path,
        name: str = "",
        rebuild: bool = False,
        embedder: str | None = None,
    ) -> None:
        self.index = index
        self.namespace = namespace
        self.name = name
        self.stats_path = stats_path
        # Recorded with the BM25 statistics by writers, checked by readers: a namespace of
        # another model's vectors is refused even when its dimension is the same.
        self.embedder = embedder
        # A rebuild never reads the old statistics: they may be from another release.
        self._signature = None if rebuild else file_signature(stats_path)
        self.corpus = sparse.CorpusStats() if rebuild else self._load_corpus()

    @classmethod
    def from_settings(cls, settings: Settings, *, rebuild: bool = False) -> PineconeStore:
        if settings.pinecone_api_key is None:
            raise IndexUnavailable("VECTOR_BACKEND=pinecone needs PINECONE_API_KEY")
        from pinecone import Pinecone, ServerlessSpec

        client = Pinecone(api_key=settings.pinecone_api_key.get_secret_value())
        name = settings.pinecone_index
        if not client.has_index(name):
            from chains.embeddings.factory import get_embeddings

            dimension = len(get_embeddings(settings).embed_query("dimension probe"))
            client.create_index(
                name=name,
                dimension=dimension,
                metric="dotproduct",
                spec=ServerlessSpec(cloud=settings.pinecone_cloud, region=settings.pinecone_region),
            )
        namespace = settings.pinecone_namespace
        stats_path = settings.data_dir / "pinecone" / f"{name}.{namespace or 'default'}.bm25.json"
        return cls(
            client.Index(name),
            namespace=namespace,
            stats_path=stats_path,
            name=name,
            rebuild=rebuild,
            embedder=embedding_model_name(settings),
        )

    # --- BM25 statistics kept beside the data ---------------------------------------
    def _load_corpus(self) -> sparse.CorpusStats:
        try:
            saved = json.loads(self.stats_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return sparse.CorpusStats()
        stale = sparse.tokenizer_mismatch(saved.get("tokenizer"))
        if stale:
            raise IndexUnavailable(f"{self.stats_path} {stale}: {REBUILD}")
        mismatch = embedder_mismatch(saved.get("embedder"), self.embedder)
        if mismatch:
            raise IndexUnavailable(
                f"the Pinecone namespace of {self.stats_path} {mismatch}: {REBUILD}"
            )
        return sparse.CorpusStats(saved["sources"])

    def _fresh_corpus(self) -> sparse.CorpusStats:
        """The statistics as the last writer (any process) left them: one stat per search."""
        signature = file_signature(self.stats_path)
        if signature != self._signature:
            self._signature = signature
            self.corpus = self._load_corpus()
        return self.corpus

    def _save_corpus(self) -> None:
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.stats_path.with_suffix(".tmp")
        saved: dict[str, Any] = {"tokenizer": sparse.TOKENIZER, "sources": self.corpus.sources}
        if self.embedder:
            saved["embedder"] = self.embedder
        staged.write_text(json.dumps(saved), encoding="utf-8")
        os.replace(staged, self.stats_path)
        self._signature = file_signature(self.stats_path)

    # --- writing --------------------------------------------------------------------
    def replace_all(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> None:
        """Empty the namespace, then upsert `chunks` (not atomic: Pinecone has no swap)."""
        from pinecone.exceptions import NotFoundException

        with contextlib.suppress(NotFoundException):  # the namespace does not exist yet
            self.index.delete(delete_all=True, namespace=self.namespace)
        self.corpus = sparse.CorpusStats()
        self._signature = file_signature(self.stats_path)  # the old file is never read again
        self.upsert(chunks, vectors)

    def upsert(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        passage_vectors: Sequence[np.ndarray] | None = None,
    ) -> None:
        """Replace every chunk of the sources in `chunks` with these, as a new revision.

        Passage vectors are not stored here (`passage_vectors` is ignored): passages of
        Pinecone's chunks are embedded when a question needs them.
        """
        vectors = unit_rows(vectors)
        tokens = sparse.document_tokens(chunks)
        self._fresh_corpus()
        by_source: dict[str, list[list[str]]] = {}
        for chunk, toks in zip(chunks, tokens, strict=True):
            by_source.setdefault(chunk.source, []).append(toks)
        revisions = {source: uuid.uuid4().hex[:12] for source in by_source}
        old = {source: dict(self.corpus.sources.get(source) or {}) for source in by_source}
        for source, token_lists in by_source.items():
            self.corpus.replace_source(source, token_lists)  # the new BM25 weights
        records = []
        for chunk, vector, toks in zip(chunks, vectors, tokens, strict=True):
            revision = revisions[chunk.source]
            record: dict[str, Any] = {
                "id": record_id(chunk.id, revision),
                "values": vector.tolist(),
                "metadata": {**chunk.metadata, REVISION_KEY: revision, TEXT_KEY: chunk.text},
            }
            indices, values = self.corpus.encode_document(toks)
            if indices:
                record["sparse_values"] = {"indices": indices, "values": values}
            records.append(record)
        for start in range(0, len(records), UPSERT_BATCH):
            batch = records[start : start + UPSERT_BATCH]
            self.index.upsert(vectors=batch, namespace=self.namespace)
        for source, revision in revisions.items():  # readers switch here, all at once
            self.corpus.sources[source]["revision"] = revision
        self._save_corpus()
        self._delete_ids([i for source, entry in old.items() for i in _ids(source, entry)])

    def delete_source(self, source: str) -> int:
        self._fresh_corpus()
        entry = self.corpus.remove_source(source)
        if not entry:
            return 0
        self._save_corpus()
        ids = _ids(source, entry)
        self._delete_ids(ids)
        return len(ids)

    def _delete_ids(self, ids: list[str]) -> None:
        for start in range(0, len(ids), DELETE_BATCH):
            self.index.delete(ids=ids[start : start + DELETE_BATCH], namespace=self.namespace)

    def stats(self) -> dict[str, Any]:
        remote: Any = None
        try:
            described = self.index.describe_index_stats()
            remote = described.to_dict() if hasattr(described, "to_dict") else described
        except Exception as exc:  # stats are informational; say why they are missing
            remote = {"error": str(exc)}
        return {
            "backend": "pinecone",
            "index": self.name,
            "namespace": self.namespace,
            "chunks": self.corpus.n_docs,
            "sources": len(self.corpus.sources),
            "remote": remote,
        }

    # --- searching --------------------------------------------------------------------
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
        """Same contract and scores as LocalHybridIndex.search."""
        try:
            self._fresh_corpus()
            if mode == "dense":
                hits = self._dense(query_vector, k * OVERFETCH, filter)
            else:
                hits = self._fused(query_vector, query_text, k * OVERFETCH, filter, mode, alpha)
            return self._current_only(hits)[:k]
        except IndexUnavailable:
            raise
        except Exception as exc:  # network or service errors: the server answers 503
            raise IndexUnavailable(f"Pinecone query failed: {exc}") from exc

    def _current_only(self, hits: list[ScoredChunk]) -> list[ScoredChunk]:
        """Hits of each source's current revision, without the revision key.

        A source the statistics do not know (being deleted, or written before revisions)
        keeps its hits: there is no newer version to hide them behind.
        """
        kept = []
        for hit in hits:
            metadata = dict(hit.chunk.metadata)
            revision = metadata.pop(REVISION_KEY, None)
            entry = self.corpus.sources.get(str(metadata.get("source", "")))
            if entry is not None and entry.get("revision") != revision:
                continue
            chunk = Chunk(hit.chunk.text, metadata, id=hit.chunk.id)
            kept.append(ScoredChunk(chunk, hit.score))
        return kept

    def _dense(self, query_vector: Any, k: int, filter: dict | None) -> list[ScoredChunk]:
        from langchain_pinecone import PineconeVectorStore

        store = PineconeVectorStore(
            index=self.index,
            embedding=_PrecomputedVectorsOnly(),
            text_key=TEXT_KEY,
            namespace=self.namespace,
        )
        hits = store.similarity_search_by_vector_with_score(
            unit(query_vector).tolist(), k=k, filter=filter or None, namespace=self.namespace
        )
        return [
            ScoredChunk(Chunk(doc.page_content, dict(doc.metadata), id=doc.id or ""), score)
            for doc, score in hits
        ]

    def _fused(
        self,
        query_vector: Any,
        query_text: str,
        k: int,
        filter: dict | None,
        mode: str,
        alpha: float,
    ) -> list[ScoredChunk]:
        if mode == "sparse":
            alpha = 0.0
        indices, values = self.corpus.encode_query(sparse.tokenize([query_text])[0])
        if mode == "sparse" and not indices:
            return []
        dim = len(query_vector) if query_vector is not None else self._dimension()
        dense = unit(query_vector) if query_vector is not None else np.zeros(dim, np.float32)
        request: dict[str, Any] = {
            "vector": (dense * alpha).tolist(),
            "top_k": k,
            "include_metadata": True,
            "namespace": self.namespace,
        }
        if indices:
            request["sparse_vector"] = {
                "indices": indices,
                "values": [v * (1.0 - alpha) for v in values],
            }
        if filter:
            request["filter"] = filter
        response = self.index.query(**request)
        hits = []
        for match in response["matches"]:
            metadata = dict(match.get("metadata") or {})
            text = metadata.pop(TEXT_KEY, "")
            score = float(match["score"])
            if mode == "sparse" and score <= 0:
                continue
            hits.append(ScoredChunk(Chunk(text, metadata, id=match["id"]), score))
        return hits

    def _dimension(self) -> int:
        return int(self.index.describe_index_stats()["dimension"])


def record_id(chunk_id_: str, revision: str | None) -> str:
    """A chunk's Pinecone id in one revision of its source (bare for pre-revision data)."""
    return f"{chunk_id_}-{revision}" if revision else chunk_id_


def _ids(source: str, entry: dict) -> list[str]:
    """Every Pinecone id a statistics entry accounts for."""
    revision = entry.get("revision")
    return [record_id(chunk_id(source, i), revision) for i in range(entry.get("docs", 0))]
