"""The batched embedded model (`LLM_PARALLEL` > 1) on the small preset's real weights.

What batching must not change: the answer (greedy decoding gives the same text as the
one-at-a-time path). What it must do: several answers advance in the same steps, a
closed stream frees its sequence, a prompt shape read once is not read again.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chains.llm import get_chat_model, prefix_cache
from chains.llm.llama_batched import BatchedChatLlamaCpp
from chains.llm.llama_serialized import SerializedChatLlamaCpp
from settings import Settings

pytestmark = pytest.mark.slow

SMALL = {"max_new_tokens": 48, "llm_model": "smollm2-135m", "_env_file": None}
PROMPTS = ["Name three colours.", "What is a lighthouse?", "Say hello in French."]


@pytest.fixture(scope="module")
def batched() -> BatchedChatLlamaCpp:
    chat = get_chat_model(Settings(llm_parallel=3, **SMALL))  # type: ignore[arg-type]
    assert isinstance(chat, BatchedChatLlamaCpp)
    return chat


@pytest.fixture(scope="module")
def serialized() -> SerializedChatLlamaCpp:
    chat = get_chat_model(Settings(llm_parallel=1, **SMALL))  # type: ignore[arg-type]
    assert not isinstance(chat, BatchedChatLlamaCpp)
    return chat


async def _answer(model: SerializedChatLlamaCpp, prompt: str) -> tuple[str, float, float]:
    """The text, and when its first and last chunk came."""
    text, first = "", 0.0
    async for chunk in model.astream(prompt):
        first = first or time.monotonic()
        text += str(chunk.content)
    return text, first, time.monotonic()


def test_a_batched_prompt_is_the_one_create_chat_completion_reads(
    batched: BatchedChatLlamaCpp,
    serialized: SerializedChatLlamaCpp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same template, same special tokens, same stop strings: only the schedule differs.
    (The text itself may differ after some tokens: a batch sums in another order, and
    `bench/batched_decode.py` reports how often greedy answers stay identical.)"""
    read: dict[str, object] = {}

    class Read(Exception):
        pass

    def capture(**kwargs: object) -> None:
        read.update(kwargs)
        raise Read

    monkeypatch.setattr(serialized.client, "create_completion", capture)
    messages = [("system", "Answer briefly."), ("human", "Name three colours.")]
    with pytest.raises(Read):
        serialized.client.create_chat_completion(
            messages=[
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Name three colours."},
            ],
            stop=["END"],
        )
    from langchain_core.messages import HumanMessage, SystemMessage

    tokens, stops = batched.prompt_tokens(
        [SystemMessage(messages[0][1]), HumanMessage(messages[1][1])], ["END"]
    )
    assert tokens == list(read["prompt"])  # type: ignore[call-overload]
    assert stops == list(read["stop"])  # type: ignore[call-overload]


async def test_answers_asked_at_once_all_complete(batched: BatchedChatLlamaCpp) -> None:
    answers = await asyncio.gather(*(_answer(batched, p) for p in PROMPTS))
    assert all(text.strip() for text, _, _ in answers)


async def test_answers_asked_together_are_written_together(
    batched: BatchedChatLlamaCpp,
) -> None:
    together = await asyncio.gather(
        *(_answer(batched.bind(max_tokens=40), f"Write a story about {t}.") for t in "abc")
    )
    firsts = [first for _, first, _ in together]
    lasts = [last for _, _, last in together]
    # One at a time, each answer would start after the one before had ended.
    assert max(firsts) < min(lasts), (firsts, lasts)


async def test_a_closed_stream_frees_its_sequence_for_the_next(
    batched: BatchedChatLlamaCpp,
) -> None:
    streams = [batched.astream(f"Write a long story about {t}.") for t in "xyzw"]
    firsts = [await anext(s) for s in streams[:3]]  # three run; the fourth waits
    fourth = asyncio.ensure_future(anext(streams[3]))
    await asyncio.sleep(0.2)
    assert not fourth.done()
    await streams[0].aclose()
    assert await asyncio.wait_for(fourth, 30)
    for stream in streams[1:]:
        await stream.aclose()
    assert await asyncio.to_thread(batched._queue.idle, 10)
    assert all(firsts)


def test_a_prompt_read_once_starts_from_its_kept_prefix(batched: BatchedChatLlamaCpp) -> None:
    seen: list[str] = []
    prefix_cache.LOOKUP_LISTENERS.append(seen.append)
    try:
        system = "You answer in one short sentence about the weather. " * 8
        batched.bind(max_tokens=4).invoke([("system", system), ("human", "Rain?")])
        batched.bind(max_tokens=4).invoke([("system", system), ("human", "Snow?")])
    finally:
        prefix_cache.LOOKUP_LISTENERS.remove(seen.append)
    assert seen[-1] in {"restored", "in_context"}


async def test_an_answer_that_ends_at_once_is_still_an_answer(
    batched: BatchedChatLlamaCpp,
) -> None:
    """A model that ends its turn before any text (it happens after long repetitive
    histories) gives an empty answer, not a failure: langchain refuses a stream of no
    chunks ("No generation chunks were returned")."""
    every_character = [chr(c) for c in range(32, 127)]  # the first text shown stops it
    message = await batched.bind(max_tokens=4, stop=every_character).ainvoke(
        [("system", "Answer in English."), ("human", "Say hello.")]
    )
    assert message.content == ""
    assert message.response_metadata.get("finish_reason") == "stop"
