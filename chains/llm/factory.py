"""One chat model per process and settings, from the provider `LLM_PROVIDER` names."""

from __future__ import annotations

from functools import lru_cache

from langchain_core.language_models import BaseChatModel

from settings import Settings


@lru_cache(maxsize=4)
def _cached_chat_model(settings: Settings) -> BaseChatModel:
    if settings.llm_provider == "local":
        from chains.llm.llama_local import local_model  # llama.cpp loads only when chosen

        return local_model(settings)
    from chains.llm.hub_endpoint import hub_endpoint_model

    return hub_endpoint_model(settings)


def get_chat_model(settings: Settings) -> BaseChatModel:
    """The process-wide chat model for these settings, built once."""
    return _cached_chat_model(settings)
