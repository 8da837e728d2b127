"""Fake chat models for benchmarks: they time the server around the model, never the model.

`GenericFakeChatModel` has no async stream of its own: LangChain's default runs
its sync `_stream` on a thread, two thread hops per token. These fakes stream
natively on the event loop instead, so what a benchmark measures is the server.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk


def word_tokens(text: str) -> list[str]:
    """One token per word, trailing whitespace kept, so tokens join back to the text."""
    return re.findall(r"\s*\S+\s*", text) if text.strip() else []


def fake_answer(tokens: int) -> str:
    return " ".join(f"word{i}" for i in range(tokens))


class FakePacedChatModel(GenericFakeChatModel):
    """A fake LLM that emits one word every `token_delay_s` (0 = instantly), asynchronously.

    Tokens are due at fixed instants from the start (start + i·delay), like a model
    generating at a steady rate on its own hardware: a busy event loop delivers them
    late, it does not slow the model down.
    """

    token_delay_s: float = 0.0

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        import time

        start = time.monotonic()
        for index, token in enumerate(self._tokens()):
            if self.token_delay_s:
                time.sleep(max(0.0, start + (index + 1) * self.token_delay_s - time.monotonic()))
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, token in enumerate(self._tokens()):
            if self.token_delay_s:
                await asyncio.sleep(
                    max(0.0, start + (index + 1) * self.token_delay_s - loop.time())
                )
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk

    def _tokens(self) -> list[str]:
        message = next(self.messages)
        text = message if isinstance(message, str) else str(message.content)
        return word_tokens(text)

    @property
    def _llm_type(self) -> str:
        return "fake-paced-chat-model"


def fake_paced_model(tokens: int, token_delay_s: float, text: str = "") -> FakePacedChatModel:
    """An endless fake: every call answers `text` (default: `tokens` words), one word per
    `token_delay_s`."""
    answer = AIMessage(content=text or fake_answer(tokens))
    return FakePacedChatModel(messages=itertools.cycle([answer]), token_delay_s=token_delay_s)
