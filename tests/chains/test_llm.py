"""The local llama.cpp model: serialized, streaming, and it stops when nobody listens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_community.chat_models import ChatLlamaCpp

from chains.llm import LLMUnavailable, get_chat_model
from chains.llm.llama_local import SerializedChatLlamaCpp
from settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> SerializedChatLlamaCpp:
    # The small preset: these tests are about serialization and streaming, not wording.
    small = Settings(max_new_tokens=200, llm_model="smollm2-135m", llm_parallel=1, _env_file=None)  # type: ignore[call-arg]
    chat = get_chat_model(small)
    assert type(chat) is SerializedChatLlamaCpp  # the batched model has tests of its own
    return chat


@pytest.fixture
def produced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the chunks llama.cpp actually generates, whoever consumes them."""
    count = [0]
    original = ChatLlamaCpp._stream

    def counting(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for chunk in original(self, *args, **kwargs):
            count[0] += 1
            yield chunk

    monkeypatch.setattr(ChatLlamaCpp, "_stream", counting)
    return count


async def test_a_consumer_that_leaves_stops_generation_within_a_token(
    model: SerializedChatLlamaCpp, produced: list[int]
) -> None:
    stream = model.astream("Write a long story about a lighthouse keeper.")
    received = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert await asyncio.to_thread(model._queue.idle, 10)
    assert len(received) == 3
    assert produced[0] <= len(received) + 1, produced[0]


async def test_concurrent_streams_are_serialized_and_all_complete(
    model: SerializedChatLlamaCpp,
) -> None:
    async def one(topic: str) -> str:
        return "".join([chunk.content async for chunk in model.astream(f"One line on {topic}.")])

    answers = await asyncio.gather(*(one(t) for t in ["rain", "salt", "iron", "moss"]))
    assert all(answer.strip() for answer in answers)


def test_sync_stream_yields_several_chunks(model: SerializedChatLlamaCpp) -> None:
    chunks = list(model.bind(max_tokens=12).stream("Name three colours."))
    assert len(chunks) > 3


def test_a_missing_gguf_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(LLMUnavailable, match="local"):
        get_chat_model(Settings(llm_model=str(tmp_path / "missing.gguf"), _env_file=None))  # type: ignore[call-arg]


def test_huggingface_without_a_token_is_a_clear_error() -> None:
    with pytest.raises(LLMUnavailable, match="HF_TOKEN"):
        get_chat_model(Settings(llm_provider="huggingface", hf_token=None, _env_file=None))  # type: ignore[call-arg]
