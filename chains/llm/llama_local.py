"""The `local` provider: a GGUF model (a preset or a path) in process through llama.cpp.

One answer at a time (`llama_serialized`) or several generated together (`llama_batched`),
as `LLM_PARALLEL` says; either way the weights, the build and the warm-up are the same.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from chains import prompts
from chains.llm.errors import LLMUnavailable
from chains.llm.gguf import model_gguf
from chains.llm.llama_batched import BatchedChatLlamaCpp, attach_scheduler
from chains.llm.llama_build import activate, choose_build
from chains.llm.llama_serialized import SerializedChatLlamaCpp
from chains.llm.prefix_cache import keep_prefix_states
from chains.llm.weights import local_weights
from chains.models.presets import prompt_style
from settings import Settings

__all__ = ["SerializedChatLlamaCpp", "local_model", "warm_prompt_prefix"]


def local_model(settings: Settings) -> BaseChatModel:
    path = str(model_gguf(settings))
    activate(choose_build(settings, Path(path)))
    batched = settings.llm_parallel > 1
    model_class = BatchedChatLlamaCpp if batched else SerializedChatLlamaCpp
    try:
        path = str(local_weights(settings, Path(path)))
        model = model_class(
            model_path=path,
            n_ctx=512 if batched else settings.llm_context_tokens,  # batched: tokenizer only
            n_threads=settings.llm_threads or os.cpu_count() or 1,
            n_batch=512,
            max_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            timeout_seconds=settings.llm_timeout_seconds,
            streaming=True,
            verbose=False,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        raise LLMUnavailable(f"local: could not load {os.path.basename(path)}") from exc
    # Free llama.cpp while the interpreter is still whole: its __del__ at shutdown
    # otherwise runs after the C bindings are gone and prints a TypeError.
    atexit.register(_close_quietly, model)
    if isinstance(model, BatchedChatLlamaCpp):
        attach_scheduler(model, settings)
    else:
        keep_prefix_states(model.client, settings.llm_prefix_cache_bytes)
    warm_prompt_prefix(model, settings)
    return model


def warm_prompt_prefix(model: SerializedChatLlamaCpp, settings: Settings) -> None:
    """Evaluate the fixed start of the RAG prompt once, at load.

    llama.cpp keeps the tokens it evaluated last and a new prompt re-evaluates only what
    follows the longest prefix it shares with them. Every RAG prompt of a style starts
    with the same system turn, so after this even the first question after a start pays
    only for its passages and question.
    """
    prompt = prompts.RAG_PROMPTS[prompt_style(settings)]
    messages = prompt.format_messages(context="", earlier="", question="", history=[])
    model.bind(max_tokens=1).invoke(messages)


def _close_quietly(model: SerializedChatLlamaCpp) -> None:
    model._queue.shutdown()
    with contextlib.suppress(Exception):
        model.client.close()
