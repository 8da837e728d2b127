"""The `local` provider with several answers generated together (`LLM_PARALLEL` > 1).

The LangChain face is the one-at-a-time model's (`SerializedChatLlamaCpp`: the same
relay of tokens and queue places, the same cancel); what runs behind it is a
`BatchScheduler` on a `LlamaBatchEngine` sharing the `Llama`'s weights. Prompts are
formatted, tokenized and sampled exactly as `Llama.create_chat_completion` does, so
turning batching on changes when an answer comes; the text can still differ after some
tokens, as a step holding several sequences adds up in another order.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_community.chat_models.llamacpp import _convert_message_to_dict
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from chains.llm import prefix_cache
from chains.llm.batch_engine import LlamaBatchEngine
from chains.llm.batch_scheduler import BatchScheduler, Generation
from chains.llm.errors import LLMContextFull
from chains.llm.fair_order import Ticket
from chains.llm.llama_serialized import DONE, Failure, SerializedChatLlamaCpp, asker
from settings import Settings

KEPT_SEQUENCES = 2
"""Sequences beyond the running answers, for kept states (prompt shapes, sessions): each
has cells of its own (`LLM_CONTEXT_TOKENS` of them), so a few."""


def chat_formatter(llama: Any) -> Any:
    """The formatter `llama.create_chat_completion` uses for this GGUF (its handler
    wraps it; we need the prompt, not a completion)."""
    from llama_cpp import llama_chat_format

    if llama.chat_format == "chat_template.default" or llama.chat_format is None:
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF has no chat template")
        model = llama._model
        eos, bos = model.token_eos(), model.token_bos()
        return llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
    formatter = getattr(llama_chat_format, "format_" + llama.chat_format.replace("-", "_"), None)
    if formatter is None:
        raise ValueError(f"no formatter for the chat format {llama.chat_format!r}")
    return formatter


class BatchedChatLlamaCpp(SerializedChatLlamaCpp):
    """ChatLlamaCpp whose answers run together with others' (see `batch_scheduler`)."""

    _formatter: Any = PrivateAttr(default=None)
    _answer_tokens: int = PrivateAttr(default=4096)

    def attach(self, scheduler: BatchScheduler, formatter: Any, answer_tokens: int) -> None:
        """Run on `scheduler`; `answer_tokens` bounds one prompt and its answer (the
        `Llama`'s own context is only big enough to tokenize)."""
        self._queue = scheduler  # type: ignore[assignment] - same submit/withdraw face
        self._formatter = formatter
        self._answer_tokens = answer_tokens

    def prompt_tokens(
        self, messages: list[BaseMessage], stop: list[str] | None
    ) -> tuple[list[int], list[str]]:
        """The prompt's tokens and every stop string, as the chat handler makes them."""
        result = self._formatter(messages=[_convert_message_to_dict(m) for m in messages])
        tokens = self.client.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stops = list(stop or self.stop or [])
        if result.stop is not None:
            stops += result.stop if isinstance(result.stop, list) else [result.stop]
        return tokens, stops

    def _submit(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        put: Any,
        cancelled: Any,
    ) -> Ticket:
        params = {**self._default_params, **kwargs}
        tokens, stops = self.prompt_tokens(messages, stop)
        max_tokens = params.get("max_tokens") or self.max_tokens or 256
        if len(tokens) + max_tokens > self._answer_tokens:
            raise LLMContextFull(
                f"local: the question and its passages take {len(tokens)} tokens; with "
                f"{max_tokens} for the answer that passes the model's {self._answer_tokens}"
            )
        # Llama's own sampler chain (penalties, then greedy or top-k/p, temperature):
        # a private method, used so that batched answers sample as the others do.
        sampler = self.client._init_sampler(
            top_k=params["top_k"],
            top_p=params["top_p"],
            temp=params["temperature"],
            repeat_penalty=params["repeat_penalty"],
        )

        def on_text(text: str) -> None:
            put(ChatGenerationChunk(message=AIMessageChunk(content=text)))

        def on_end(error: BaseException | None) -> None:
            if error is not None:
                put(Failure(error))
            else:  # as create_chat_completion does: an empty answer is still an answer
                info = {"finish_reason": generation.finish_reason}
                put(ChatGenerationChunk(message=AIMessageChunk(content=""), generation_info=info))
            put(DONE)

        generation = Generation(
            prompt=tokens,
            sampler=sampler,
            max_tokens=max_tokens,
            on_text=on_text,
            on_end=on_end,
            stops=stops,
            cancelled=cancelled,
            timeout_seconds=self.timeout_seconds,
            on_place=put,
        )
        return self._queue.submit(asker(), generation)  # type: ignore[call-arg]


def attach_scheduler(model: BatchedChatLlamaCpp, settings: Settings) -> BatchScheduler:
    """Give `model` a batched context on its weights and the scheduler that drives it.

    Every sequence (a running answer, a kept state) has `LLM_CONTEXT_TOKENS` cells; kept
    states hold at most `LLM_PREFIX_CACHE_BYTES` of them (0: none kept).
    """
    parallel = settings.llm_parallel
    engine = LlamaBatchEngine(
        model.client,
        sequences=parallel + KEPT_SEQUENCES,
        cells=(parallel + KEPT_SEQUENCES) * settings.llm_context_tokens,
        threads=settings.llm_threads or os.cpu_count() or 1,
    )
    scheduler = BatchScheduler(
        engine,
        parallel=parallel,
        sequences=parallel + KEPT_SEQUENCES,
        prefill_chunk=settings.llm_prefill_chunk,
        kept_bytes=settings.llm_prefix_cache_bytes,
        lookup_listeners=prefix_cache.LOOKUP_LISTENERS,
        size_listeners=prefix_cache.SIZE_LISTENERS,
    )
    model.attach(scheduler, chat_formatter(model.client), settings.llm_context_tokens)
    return scheduler
