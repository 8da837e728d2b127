"""The LLM: three providers behind one chat-model interface, and how they fail.

`local` runs a GGUF in process through llama.cpp (`llama_local`; which file: `gguf`);
`huggingface` and `endpoint` go through HuggingFace's client (`hub_endpoint`); `factory`
picks one.
"""

from chains.llm.errors import LLMTimeout, LLMUnavailable
from chains.llm.factory import get_chat_model

__all__ = ["LLMTimeout", "LLMUnavailable", "get_chat_model"]
