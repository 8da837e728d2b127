"""Which pieces a stage's graph has. Stages are options, not copies of the graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RetrievalMode = Literal["dense", "hybrid"]


@dataclass(frozen=True)
class GraphOptions:
    template: bool = True  # system prompt + ChatPromptTemplate; False = the raw question
    history: bool = False  # the conversation goes into the prompt
    persist: bool = True  # with history: load it from / store the exchange in the database;
    # False = the caller passes `history` in the input (stateless, e.g. the OpenAI route)
    retrieval: RetrievalMode | None = None
    filters: bool = False  # accept a metadata filter
    tunable_mode: bool = False  # the request may pick dense / sparse / hybrid and alpha

    @property
    def stored(self) -> bool:
        return self.history and self.persist

    @property
    def returns_sources(self) -> bool:
        return self.retrieval is not None


STAGES: dict[str, GraphOptions] = {
    "simple": GraphOptions(template=False),
    "formatted": GraphOptions(),
    "history": GraphOptions(history=True),
    "rag": GraphOptions(history=True, retrieval="dense"),
    "filtered_rag": GraphOptions(history=True, retrieval="hybrid", filters=True),
    "chat": GraphOptions(history=True, retrieval="hybrid", filters=True, tunable_mode=True),
}
