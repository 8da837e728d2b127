"""`_generate` from `_stream` for chat models whose every call streams.

Both the serialized llama.cpp model and the citation filter produce answers only as
streams (the queue relays chunks; the filter cleans them): a whole answer is their
stream joined, so the two ways of asking cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult


class GeneratesFromStream:
    """Mix in before a `BaseChatModel` whose `_stream` and `_astream` do the work."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))  # type: ignore[attr-defined]

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        stream = self._astream(messages, stop, run_manager, **kwargs)  # type: ignore[attr-defined]
        return await agenerate_from_stream(stream)
