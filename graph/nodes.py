"""Graph nodes: small async functions over the chains, one job each."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from langgraph.types import StreamWriter

from chains import prompts
from chains.index.fusion import asks_for_release
from chains.llm.citation_terms import source_text, source_to_cite
from chains.llm.citations import CleanCitations
from chains.llm.queue import QUEUE_KEY
from chains.models.presets import context_tokens, prompt_style, release_context_tokens
from chains.passages import cites_a_source, focus, supporting_passage
from chains.prompt_lines import prompt_labels, shown_headers
from chains.retrieval import format_passages
from graph.context import RequestContext, SearchParams, queue_key
from graph.options import GraphOptions
from graph.resources import Resources
from graph.state import ChatState
from graph.streaming import QueuePlaceRelay
from settings import Settings

CONDENSE_MAX_TOKENS = 96


def model_config(state: ChatState, config: RunnableConfig) -> RunnableConfig:
    """`config` for a model call: it waits in the model's queue as its asker."""
    metadata = {**(config.get("metadata") or {}), QUEUE_KEY: queue_key(state, config)}
    return {**config, "metadata": metadata}


def passage_budget(settings: Settings, question: str) -> int:
    """The tokens of passages `question` gets: fewer for one that asks which release did
    something, or when (`release_context_tokens`), else `CONTEXT_TOKENS` or the preset's."""
    if asks_for_release(question):
        return release_context_tokens(settings)
    return context_tokens(settings)


def previous_question(history: list[BaseMessage]) -> str | None:
    """The last question asked before this one, if any."""
    for message in reversed(history):
        if isinstance(message, HumanMessage):
            return str(message.text)
    return None


@dataclass
class ChatNodes:
    options: GraphOptions
    resources: Resources

    @property
    def style(self) -> prompts.PromptStyle:
        return prompt_style(self.resources.settings)

    @property
    def prompt(self) -> ChatPromptTemplate:
        if self.options.retrieval:
            return prompts.RAG_PROMPTS[self.style]
        if self.options.history:
            return prompts.HISTORY_PROMPT
        if self.options.template:
            return prompts.FORMATTED_PROMPT
        return prompts.RAW_PROMPT

    async def load_history(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        ctx = RequestContext.from_run(state, config)
        store = await self.resources.history_store()
        history = await store.get_user_chat_history(
            ctx.username, ctx.session_id, max_tokens=self.resources.settings.history_max_tokens
        )
        return {"history": history, "username": ctx.username, "session_id": ctx.session_id}

    async def record_question(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        """Store the question now, not with its answer: a crash mid-answer keeps it.

        A retried request id gets the first attempt's answer id, so its answer fills in
        the one the first attempt never stored, and the question is not stored twice.
        """
        ctx = RequestContext.from_run(state, config)
        store = await self.resources.history_store()
        turn = await store.start_exchange(
            ctx.username, ctx.session_id, request_id=ctx.request_id, question=state["question"]
        )
        return {"message_id": turn.answer_message_id}

    async def condense(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        """What a follow-up retrieves with, so retrieval sees the topic of the conversation.

        By default the previous question joined to this one: on the labelled follow-ups it
        found the answer more often than an LLM rewrite, and costs no model call.
        """
        history = state.get("history") or []
        earlier = previous_question(history)
        if earlier is None:
            return {"standalone_question": state["question"]}
        if self.resources.settings.follow_up_query == "previous_question":
            return {"standalone_question": f"{earlier} {state['question']}"}
        llm = self.resources.chat_model().bind(max_tokens=CONDENSE_MAX_TOKENS)
        chain = (prompts.CONDENSE_PROMPT | llm | StrOutputParser()).with_config(
            run_name="condense_question", tags=["condense"]
        )
        inputs = {"history": history, "question": state["question"]}
        rewritten = (await chain.ainvoke(inputs, model_config(state, config))).strip()
        return {"standalone_question": rewritten or state["question"]}

    async def retrieve(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        params = SearchParams.from_state(
            state, self.resources.settings, default_mode=self.options.retrieval or "dense"
        )
        backend = self.resources.search_backend()
        documents = await backend.asearch(
            state.get("standalone_question") or state["question"],
            k=params.k,
            filter=params.filter if self.options.filters else None,
            mode=params.mode if self.options.tunable_mode else self.options.retrieval,
            alpha=params.alpha,
        )
        return {"documents": documents}

    async def focus(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        """The passages of the retrieved chunks that answer the question, within budget
        (a smaller one for a question that asks which release, whose answer is a heading).

        Passages whose vectors ingest stored are scored with those; only the others (an
        index from before, Pinecone) are embedded now.
        """
        embedder = await asyncio.to_thread(self.resources.passage_embedder)
        documents = state.get("documents") or []
        stored_vectors = getattr(self.resources.search_backend(), "stored_passage_vectors", None)
        stored: dict[str, np.ndarray] = {}
        if embedder and stored_vectors is not None:
            stored = await asyncio.to_thread(stored_vectors, documents)

        def embed_question(text: str) -> np.ndarray:
            return embedder.embed_query(text) if embedder else np.zeros(1)

        def embed_texts(texts: list[str]) -> np.ndarray:
            if not embedder:
                return np.zeros((len(texts), 1))
            missing = [t for t in texts if t not in stored]
            fresh = (
                dict(zip(missing, embedder.embed_texts(missing), strict=True)) if missing else {}
            )
            return np.stack([stored[t] if t in stored else fresh[t] for t in texts])

        question = state.get("standalone_question") or state["question"]
        settings = self.resources.settings
        budget = passage_budget(settings, question)
        passages = await asyncio.to_thread(
            focus, question, documents, budget, embed_question, embed_texts
        )
        return {"passages": passages}

    def _prompt_inputs(self, state: ChatState) -> dict[str, Any]:
        inputs: dict[str, Any] = {"question": state["question"]}
        history = state.get("history") or []
        if self.options.retrieval:
            fence = "heading" if self.style == "small" else "tags"
            inputs["context"] = format_passages(state.get("passages") or [], fence)
            if self.style in ("small", "medium"):
                earlier = previous_question(history)
                inputs["earlier"] = (
                    prompts.EARLIER_QUESTION.format(question=earlier) if earlier else ""
                )
            else:
                inputs["history"] = history
        elif self.options.history:
            inputs["history"] = history
        return inputs

    async def generate(
        self, state: ChatState, config: RunnableConfig, writer: StreamWriter
    ) -> dict[str, Any]:
        """Stream the answer; if it breaks off, keep what was said, marked incomplete."""
        llm = self.resources.chat_model()
        source_texts = [source_text(d) for d in state.get("documents") or []]
        if self.options.retrieval:
            # `[n]` only (a copied passage header is cut), n the source the prompt labelled.
            passages = state.get("passages") or []
            labels = prompt_labels(passages)
            llm = CleanCitations(
                model=llm,
                sources={v: k for k, v in labels.items()},
                headers=shown_headers(passages),
                source_texts=source_texts,
            )
        requested = state.get("max_tokens")
        if requested:
            llm = llm.bind(max_tokens=min(requested, self.resources.settings.max_new_tokens))
        chain = (self.prompt | llm).with_config(
            run_name="generate_answer", callbacks=[QueuePlaceRelay(writer)]
        )
        message_id = state.get("message_id") or (str(uuid.uuid4()) if self.options.stored else None)
        parts: list[str] = []
        try:
            if self.options.retrieval and not state.get("documents"):
                writer({"answer": prompts.NO_PASSAGES_ANSWER})
                return {"answer": prompts.NO_PASSAGES_ANSWER, "message_id": message_id}
            async for chunk in chain.astream(
                self._prompt_inputs(state), model_config(state, config)
            ):
                if isinstance(chunk.content, str):
                    parts.append(chunk.content)
            if self.options.retrieval:
                citation = self._citation("".join(parts), state, source_texts)
                if citation:
                    writer({"answer": citation})
                    parts.append(citation)
        except BaseException:
            if self.options.stored and message_id:
                # Shielded: a client that left cancels us, but the exchange must be kept.
                await asyncio.shield(
                    self._persist(state, config, "".join(parts), message_id, incomplete=True)
                )
            raise
        return {"answer": "".join(parts), "message_id": message_id}

    def _citation(self, answer: str, state: ChatState, source_texts: list[str]) -> str:
        """` [n]` for an answer that cites nothing, n the source it draws on; else ''.

        Small models often leave out the `[n]` they were asked for; the passage that
        shares the answer's rarest words is the one it quotes, unless another source
        states more of the names the answer gives (`source_to_cite`).
        """
        if cites_a_source(answer, len(source_texts)):
            return ""
        passage = supporting_passage(answer, state.get("passages") or [])
        quoted = [passage.number] if passage else []
        number = source_to_cite(answer, quoted, source_texts) or next(iter(quoted), None)
        return f" [{number}]" if number else ""

    async def save(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        await self._persist(
            state, config, state.get("answer", ""), state.get("message_id") or "", incomplete=False
        )
        return {}

    async def _persist(
        self,
        state: ChatState,
        config: RunnableConfig,
        answer: str,
        message_id: str,
        *,
        incomplete: bool,
    ) -> None:
        """The answer of the turn `record_question` started (its question is stored)."""
        ctx = RequestContext.from_run(state, config)
        store = await self.resources.history_store()
        await store.finish_exchange(
            ctx.username,
            ctx.session_id,
            answer_message_id=message_id,
            answer=answer,
            incomplete=incomplete,
        )
