"""BM25 as sparse vectors: the one encoding both backends use, so their scores agree.

Written here rather than taken from bm25s's index because Pinecone needs the two halves
apart: a document vector (saturated term frequency, no idf) stored at upsert, and a query
vector (idf) sent per request. bm25s folds idf into its stored scores. bm25s still does the
tokenizing (its regex and English stopwords; nothing to download), with PyStemmer's
English Snowball stemmer so "sorting" finds "sorted". A chunk is indexed with its
document's title and its section's heading path in front, as a search engine indexes
title fields: the words a page is about (a product, a release number, a date) are often
only in its title and headings. docs/retrieval.md has what each choice measured.

Scale: document weights are `tf*(k1+1)/(tf + k1*(1-b+b*len/avgdl)) / (k1+1)`, in [0, 1);
query weights are the idf of each distinct query term divided by their sum. Their dot
product is an idf-weighted mean of per-term saturation, so a sparse score lies in [0, 1)
like a cosine, and `alpha * dense + (1 - alpha) * sparse` needs no per-query rescaling,
which a Pinecone query could not do.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping

import bm25s
import numpy as np
import Stemmer

from chains.index.chunks import Chunk

K1 = 1.2
B = 0.75
# Stored in index manifests: an index tokenized differently must be rebuilt, not mixed.
TOKENIZER = "bm25s-en-stopwords+snowball-en+versions+title+section/3"
# What changed since an older tokenizer, for the message that asks to rebuild.
TOKENIZER_CHANGES = {
    "bm25s-en-stopwords+snowball-en+title/2": (
        "chunks now record their section headings, and BM25 indexes them and version numbers"
    ),
}


def tokenizer_mismatch(recorded: object) -> str | None:
    """Why an index tokenized by `recorded` cannot be searched here, or None if it can."""
    if recorded == TOKENIZER:
        return None
    why = TOKENIZER_CHANGES.get(str(recorded))
    reason = f" ({why})" if why else ""
    return f"was built with tokenizer {recorded!r}, this version uses {TOKENIZER!r}{reason}"


# "3.11", "12.22.0", "v4.4.0" (captured without the v); not part of a longer dotted word.
_VERSION = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)(?![\w]|\.\d)")

_local = threading.local()  # PyStemmer objects are not safe to share between threads


def _stem_words(words: list[str]) -> list[str]:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWords(words)


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stemmed word tokens without English stopwords, and version numbers.

    bm25s's words have two characters or more, so "4.4.0" would leave no token at all and
    "12.22.0" only "12" and "22"; each version number is also one token of its own
    ("v4.4.0" and "4.4.0" alike), so a question naming a release finds its heading.
    """
    if not texts:
        return []
    tokens = bm25s.tokenize(
        texts, stopwords="en", stemmer=_stem_words, return_ids=False, show_progress=False
    )
    # bm25s returns [""] for a text with no tokens; an empty list is what we mean.
    return [
        [t for t in doc if t] + version_numbers(text)
        for doc, text in zip(tokens, texts, strict=True)
    ]


def version_numbers(text: str) -> list[str]:
    """The version numbers `text` names, without a leading v: "v4.4.0 and 3.11" → ["4.4.0",
    "3.11"]. A date (2026-05-22) is none."""
    return _VERSION.findall(text)


def indexed_text(text: str, title: object, section: object = "") -> str:
    """What BM25 sees of a chunk: its document's title, its heading path, then the chunk.

    The title is left out when the chunk starts with it (a page's first chunk): once is
    enough for BM25's term frequency.
    """
    fields = [
        value
        for value in (title, section)
        if isinstance(value, str) and value and not text.startswith(value)
    ]
    return "\n\n".join([*fields, text])


def document_tokens(chunks: Iterable[Chunk]) -> list[list[str]]:
    """BM25 tokens of each chunk, title and headings included; both backends index these."""
    return tokenize(
        [indexed_text(c.text, c.metadata.get("title"), c.metadata.get("section")) for c in chunks]
    )


def token_hash(token: str) -> int:
    """A stable 32-bit id for a token: Pinecone sparse indices need no shared vocabulary."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")


def idf(doc_freq: np.ndarray, n_docs: int) -> np.ndarray:
    """Lucene's BM25 idf, always positive."""
    df = np.asarray(doc_freq, dtype=np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def doc_weights(tf: np.ndarray, doc_len: np.ndarray, avgdl: float) -> np.ndarray:
    """Saturated term frequency per (doc, term) entry, scaled into [0, 1).

    `tf` and `doc_len` are aligned arrays (one entry per non-zero of the doc-term matrix).
    """
    tf = np.asarray(tf, dtype=np.float64)
    norm = K1 * (1.0 - B + B * np.asarray(doc_len, dtype=np.float64) / max(avgdl, 1e-9))
    return (tf / (tf + norm)).astype(np.float32)


def query_weights(idfs: np.ndarray) -> np.ndarray:
    """Idf of each distinct known query term, normalised to sum to one."""
    idfs = np.asarray(idfs, dtype=np.float64)
    total = idfs.sum()
    return (idfs / total).astype(np.float32) if total > 0 else idfs.astype(np.float32)


class CorpusStats:
    """Document frequencies and lengths per source, so re-ingesting a source replaces them.

    The Pinecone backend keeps this in a JSON file under the data dir; the local index
    derives the same numbers from its own matrix.
    """

    def __init__(self, sources: Mapping[str, dict] | None = None) -> None:
        self.sources: dict[str, dict] = dict(sources or {})
        self._refresh()

    def _refresh(self) -> None:
        self.df: Counter[str] = Counter()
        self.n_docs = 0
        total_len = 0
        for entry in self.sources.values():
            self.df.update(entry["df"])
            self.n_docs += entry["docs"]
            total_len += entry["length"]
        self.avgdl = total_len / self.n_docs if self.n_docs else 1.0

    def replace_source(self, source: str, token_lists: Iterable[list[str]]) -> None:
        df: Counter[str] = Counter()
        docs = length = 0
        for tokens in token_lists:
            df.update(set(tokens))
            docs += 1
            length += len(tokens)
        self.sources[source] = {"docs": docs, "length": length, "df": dict(df)}
        self._refresh()

    def remove_source(self, source: str) -> dict | None:
        entry = self.sources.pop(source, None)
        self._refresh()
        return entry

    def encode_document(self, tokens: list[str]) -> tuple[list[int], list[float]]:
        """Sparse document vector with hashed indices (Pinecone's `sparse_values`)."""
        counts = Counter(tokens)
        if not counts:
            return [], []
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = doc_weights(tf, np.full(len(counts), len(tokens)), self.avgdl)
        return _merge([token_hash(t) for t in counts], values.tolist())

    def encode_query(self, tokens: list[str]) -> tuple[list[int], list[float]]:
        """Sparse query vector with hashed indices; unknown terms are dropped."""
        known = [t for t in dict.fromkeys(tokens) if self.df.get(t, 0) > 0]
        if not known:
            return [], []
        weights = query_weights(idf(np.array([self.df[t] for t in known]), self.n_docs))
        return _merge([token_hash(t) for t in known], weights.tolist())


def _merge(indices: list[int], values: list[float]) -> tuple[list[int], list[float]]:
    """Sum values of tokens whose 32-bit hashes collide: Pinecone rejects repeated indices."""
    merged: dict[int, float] = {}
    for index, value in zip(indices, values, strict=True):
        merged[index] = merged.get(index, 0.0) + value
    return list(merged), list(merged.values())
