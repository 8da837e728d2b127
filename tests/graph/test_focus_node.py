"""The focus node scores passages with the vectors ingest stored, embedding only the rest."""

from __future__ import annotations

import asyncio

import numpy as np
from langchain_core.documents import Document

from chains.passages import passage_texts
from graph.nodes import ChatNodes
from graph.options import GraphOptions
from graph.resources import Resources
from settings import Settings

TEXT = (
    "The first paragraph talks about temporary files at some length.\n\n"
    "The second paragraph talks about heaps and their invariant at some length."
)


class CountingEmbedder:
    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed_query(self, text: str) -> np.ndarray:
        return np.array([1.0, 0.0])

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        self.embedded += texts
        return np.tile([0.0, 1.0], (len(texts), 1))


class StoringRetriever:
    """Holds vectors for the first passage of each chunk only."""

    def stored_passage_vectors(self, documents: list[Document]) -> dict[str, np.ndarray]:
        return {passage_texts(d.page_content)[0]: np.array([1.0, 0.0]) for d in documents}


def test_stored_passage_vectors_are_used_and_only_the_others_embedded() -> None:
    settings = Settings(context_tokens=20, _env_file=None)
    resources = Resources(settings=settings, retriever=StoringRetriever())  # type: ignore[arg-type]
    embedder = CountingEmbedder()
    resources._passages = embedder  # type: ignore[assignment]
    nodes = ChatNodes(GraphOptions(retrieval="hybrid"), resources)
    state = {"question": "temporary files", "documents": [Document(TEXT, metadata={"id": "a"})]}
    out = asyncio.run(nodes.focus(state, {}))  # type: ignore[arg-type]
    first, second = passage_texts(TEXT)
    assert embedder.embedded == [second]
    # The stored vector matches the question: its passage wins the 20-token budget.
    assert out["passages"][0].text.startswith(first[:40])


def test_a_question_that_asks_for_a_release_gets_the_release_budget() -> None:
    settings = Settings(context_tokens=400, release_context_tokens=20, _env_file=None)
    resources = Resources(settings=settings, retriever=StoringRetriever())  # type: ignore[arg-type]
    resources._passages = CountingEmbedder()  # type: ignore[assignment]
    nodes = ChatNodes(GraphOptions(retrieval="hybrid"), resources)
    documents = [Document(TEXT, metadata={"id": "a"})]

    def kept(question: str) -> int:
        state = {"question": question, "documents": documents}
        return len(asyncio.run(nodes.focus(state, {}))["passages"])  # type: ignore[arg-type]

    assert kept("How do temporary files work?") == 2  # both passages fit 400 tokens
    assert kept("Which release changed temporary files?") == 1  # 20 tokens: one
