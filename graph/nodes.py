"""Graph nodes: small async functions over the chains, one job each."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig

from chains import prompts
from chains.retrieval import format_docs
from graph.context import RequestContext, SearchParams
from graph.options import GraphOptions
from graph.resources import Resources
from graph.state import ChatState

CONDENSE_MAX_TOKENS = 96


@dataclass
class ChatNodes:
    options: GraphOptions
    resources: Resources

    @property
    def prompt(self) -> ChatPromptTemplate:
        if self.options.retrieval:
            return prompts.RAG_PROMPT
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

    async def condense(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        """Rewrite a follow-up into a standalone question, so retrieval sees the topic."""
        history = state.get("history") or []
        if not history:
            return {"standalone_question": state["question"]}
        llm = self.resources.chat_model().bind(max_tokens=CONDENSE_MAX_TOKENS)
        chain = (prompts.CONDENSE_PROMPT | llm | StrOutputParser()).with_config(
            run_name="condense_question", tags=["condense"]
        )
        rewritten = (
            await chain.ainvoke({"history": history, "question": state["question"]}, config)
        ).strip()
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

    async def generate(self, state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        """Stream the answer; if it breaks off, keep what was said, marked incomplete."""
        inputs: dict[str, Any] = {"question": state["question"]}
        if self.options.history:
            inputs["history"] = state.get("history") or []
        if self.options.retrieval:
            inputs["context"] = format_docs(state.get("documents") or [])
        llm = self.resources.chat_model()
        requested = state.get("max_tokens")
        if requested:
            llm = llm.bind(max_tokens=min(requested, self.resources.settings.max_new_tokens))
        chain = (self.prompt | llm).with_config(run_name="generate_answer")
        message_id = str(uuid.uuid4()) if self.options.stored else None
        parts: list[str] = []
        try:
            async for chunk in chain.astream(inputs, config):
                if isinstance(chunk.content, str):
                    parts.append(chunk.content)
        except BaseException:
            if self.options.stored and message_id:
                # Shielded: a client that left cancels us, but the exchange must be kept.
                await asyncio.shield(
                    self._persist(state, config, "".join(parts), message_id, incomplete=True)
                )
            raise
        return {"answer": "".join(parts), "message_id": message_id}

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
        ctx = RequestContext.from_run(state, config)
        store = await self.resources.history_store()
        await store.record_exchange(
            ctx.username,
            ctx.session_id,
            request_id=ctx.request_id,
            question=state["question"],
            answer=answer,
            answer_message_id=message_id,
            incomplete=incomplete,
        )
