"""The `/retrieve` route's runnable: the graph's retrieval step, on its own."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from graph.resources import Resources


def retrieve_runnable(resources: Resources) -> Runnable:
    async def retrieve(payload: dict[str, Any]) -> list[dict[str, Any]]:
        settings = resources.settings
        alpha = payload.get("alpha")
        documents = await resources.search_backend().asearch(
            payload["query"],
            k=payload.get("k") or settings.retrieval_k,
            filter=payload.get("filter"),
            mode=payload.get("mode") or "hybrid",
            alpha=settings.hybrid_alpha if alpha is None else alpha,
        )
        results = []
        for doc in documents:
            metadata = dict(doc.metadata)
            score = metadata.pop("score", 0.0)
            results.append({"page_content": doc.page_content, "metadata": metadata, "score": score})
        return results

    return RunnableLambda(retrieve, name="retrieve")
