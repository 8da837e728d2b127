"""The `huggingface` and `endpoint` providers: HuggingFace's client, hosted or at any URL.

`huggingface` calls the HuggingFace Inference API for a repo id; `endpoint` talks to any
TGI / OpenAI-compatible URL (llama.cpp's own server in our tests) through the same client.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from chains.llm.errors import LLMUnavailable
from chains.models.presets import llm_model
from settings import Settings


def hub_endpoint_model(settings: Settings) -> BaseChatModel:
    """`huggingface` and `endpoint` share one client: HuggingFaceEndpoint + ChatHuggingFace."""
    from langchain_huggingface import ChatHuggingFace, HuggingFaceEndpoint

    common: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "temperature": settings.temperature or None,
        "do_sample": settings.temperature > 0,
        "timeout": settings.llm_timeout_seconds,
        "streaming": True,
    }
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    if settings.llm_provider == "endpoint":
        if not settings.llm_endpoint_url:
            raise LLMUnavailable("endpoint: LLM_ENDPOINT_URL is not set")
        llm = HuggingFaceEndpoint(
            endpoint_url=settings.llm_endpoint_url, huggingfacehub_api_token=token, **common
        )
    else:
        if not token:
            raise LLMUnavailable("huggingface: HF_TOKEN is not set")
        llm = HuggingFaceEndpoint(
            repo_id=llm_model(settings), huggingfacehub_api_token=token, **common
        )
    return ChatHuggingFace(llm=llm, max_tokens=settings.max_new_tokens)
