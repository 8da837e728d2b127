"""Kept prompt states on the real small model: a prompt shape survives another in between,
the answer is the one a fresh context gives, and the kept states stay within their bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chains import prompts
from chains.llm import prefix_cache
from chains.llm.llama_local import local_model
from settings import Settings

pytestmark = pytest.mark.slow

RAG = prompts.RAG_PROMPTS["small"]


def small(**update: Any) -> Settings:
    """The one-at-a-time path, whose kept states these are (the batched path keeps its
    own in the KV cache: tests/chains/test_batched_model.py)."""
    return Settings(  # type: ignore[call-arg]
        llm_model="smollm2-135m", max_new_tokens=12, llm_parallel=1, _env_file=None, **update
    )


def rag_question(context: str, question: str) -> list[Any]:
    return RAG.format_messages(context=context, earlier="", question=question, history=[])


@pytest.fixture
def lookups() -> Iterator[list[str]]:
    seen: list[str] = []
    prefix_cache.LOOKUP_LISTENERS.append(seen.append)
    yield seen
    prefix_cache.LOOKUP_LISTENERS.remove(seen.append)


def evaluated(model: Any) -> list[int]:
    """Counts the tokens llama.cpp evaluates from now on."""
    count = [0]
    llama = model.client
    original = llama.eval

    def counting(tokens: Any) -> None:
        count[0] += len(tokens)
        original(tokens)

    llama.eval = counting
    return count


def rag_after_formatted(model: Any) -> tuple[str, int]:
    """A RAG question after a RAG question and a /formatted one: its answer, and how many
    tokens llama.cpp read for it."""
    model.invoke(rag_question("[1] tempfile.mkstemp makes a file.", "Which function?"))
    model.invoke(prompts.FORMATTED_PROMPT.format_messages(question="Say hi."))
    count = evaluated(model)
    answer = model.invoke(rag_question("[1] os.path.join joins paths.", "Which one joins?"))
    return str(answer.content), count[0]


def test_a_prompt_after_another_shape_reads_only_its_own_tokens(lookups: list[str]) -> None:
    answer, read = rag_after_formatted(local_model(small(llm_prefix_cache_bytes=64 << 20)))
    assert lookups[-1] == "restored"
    fresh_answer, fresh_read = rag_after_formatted(local_model(small(llm_prefix_cache_bytes=0)))
    assert read < fresh_read / 2, (read, fresh_read)
    assert answer == fresh_answer  # a restored state answers as a fresh evaluation does


def test_the_kept_states_stay_within_their_bytes() -> None:
    sizes: list[int] = []
    prefix_cache.SIZE_LISTENERS.append(sizes.append)
    try:
        budget = 2 * 1024 * 1024
        model = local_model(small(llm_prefix_cache_bytes=budget))
        for n in range(4):
            model.invoke(prompts.FORMATTED_PROMPT.format_messages(question=f"Count to {n}."))
    finally:
        prefix_cache.SIZE_LISTENERS.remove(sizes.append)
    assert sizes and max(sizes) <= budget
    assert model.client.cache.cache_size <= budget
