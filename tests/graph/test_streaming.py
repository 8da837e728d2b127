"""A graph run as answer tokens plus one closing chunk (fake model: logic only)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from graph.streaming import answer_chunks, source_entries
from settings import Settings
from tests.conftest import FakeRetriever


def fake_model(*answers: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(a) for a in answers]))


@pytest.fixture
async def resources(tmp_path: Path) -> AsyncIterator[Resources]:
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    # Turn 1: generate; turn 2: the LLM rewrite of the follow-up, then generate.
    # Prompt labels: the best source is shown last, so label [2] is source 1, [1] source 2.
    llm = fake_model("first answer [2]", "REWRITTEN QUESTION", "second answer [1]")
    settings = settings.model_copy(update={"follow_up_query": "llm"})
    resources = Resources(settings=settings, llm=llm, retriever=FakeRetriever())
    yield resources
    await resources.aclose()


async def run(resources: Resources, stage: str, payload: dict[str, Any], **kw: Any) -> list[Any]:
    chunks = answer_chunks(build_graph(STAGES[stage], resources, name=stage), STAGES[stage], **kw)
    return [chunk async for chunk in chunks(payload, {})]


async def test_a_plain_stage_streams_text_and_nothing_else(resources: Resources) -> None:
    chunks = await run(resources, "formatted", {"question": "hi"})
    assert len(chunks) > 2 and all(isinstance(c, str) for c in chunks)
    assert "".join(chunks) == "first answer [2]"  # no passages: nothing renumbered


async def test_a_rag_stage_streams_sources_then_answer_chunks_then_one_closing_chunk(
    resources: Resources,
) -> None:
    tokens: list[None] = []
    payload = {"question": "temp files?", "username": "ada", "session_id": "s1"}
    chunks = await run(resources, "chat", payload, on_token=lambda: tokens.append(None))
    sources, *answer, closing = chunks
    assert list(sources) == ["sources"]
    assert [s["number"] for s in sources["sources"]] == [1, 2]
    assert all(list(c) == ["answer"] for c in answer)
    assert "".join(c["answer"] for c in answer) == "first answer [1]"
    assert len(tokens) == len(answer) > 1
    assert set(closing) == {"message_id", "session_id"}
    assert closing["session_id"] == "s1" and closing["message_id"]


async def rag_answer(tmp_path: Path, said: str) -> tuple[str, list[str]]:
    """What `/rag` streams when the model says `said`, and the history stored after it."""
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    resources = Resources(settings=settings, llm=fake_model(said), retriever=FakeRetriever())
    try:
        chunks = await run(resources, "rag", {"question": "temp files?", "username": "ada"})
        store = await resources.history_store()
        stored = await store.get_user_chat_history("ada")
        return "".join(c.get("answer", "") for c in chunks), [m.content for m in stored]
    finally:
        await resources.aclose()


async def test_an_answer_that_cites_nothing_gets_the_number_of_the_passage_it_quotes(
    tmp_path: Path,
) -> None:
    answer, stored = await rag_answer(tmp_path, "Call tempfile.mkstemp() for that.")
    # FakeRetriever's first chunk is the one about tempfile.mkstemp().
    assert answer == "Call tempfile.mkstemp() for that. [1]"
    assert stored[-1] == answer


async def test_a_header_the_prompt_showed_is_cut_from_the_answer(tmp_path: Path) -> None:
    answer, _ = await rag_answer(tmp_path, "Call tempfile.mkstemp() (from tempfile) for that.")
    assert answer == "Call tempfile.mkstemp() for that. [1]"


async def test_the_condense_call_never_reaches_the_answer(resources: Resources) -> None:
    payload = {"question": "temp files?", "username": "ada", "session_id": "s1"}
    await run(resources, "chat", payload)
    follow_up = await run(resources, "chat", {**payload, "question": "and then?"})
    answer = "".join(c.get("answer", "") for c in follow_up)
    assert answer == "second answer [2]"
    assert "REWRITTEN" not in answer


def test_source_entries_are_numbered_as_the_prompt_numbers_them() -> None:
    documents = [
        Document("a", metadata={"id": "x", "source": "a.md", "title": "A", "score": 0.5, "y": 1}),
        Document("b", metadata={"source": "b.md"}),
    ]
    first, second = source_entries(documents)
    assert first == {
        "number": 1,
        "id": "x",
        "source": "a.md",
        "title": "A",
        "score": 0.5,
        "page_content": "a",
        "metadata": {"y": 1},
    }
    assert second["number"] == 2 and second["title"] is None and second["metadata"] == {}


class WaitsInLine(GenericFakeChatModel):
    """A fake model that reports two places in the queue before answering, as the local
    model does (logic only), and records which asker the call queued as."""

    askers: list[str] = []

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        from langchain_core.callbacks import adispatch_custom_event
        from langchain_core.runnables import ensure_config

        from chains.llm.queue import QUEUE_EVENT, QUEUE_KEY

        self.askers.append(ensure_config()["metadata"][QUEUE_KEY])
        for ahead in (2, 1):
            await adispatch_custom_event(QUEUE_EVENT, {"ahead": ahead, "estimate_seconds": 3.0})
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk


@pytest.fixture
async def queued(tmp_path: Path) -> AsyncIterator[Resources]:
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    llm = WaitsInLine(messages=itertools.cycle([AIMessage("an answer")]), askers=[])
    resources = Resources(settings=settings, llm=llm, retriever=FakeRetriever())
    yield resources
    await resources.aclose()


async def test_places_in_line_come_before_the_answer_as_queue_chunks(queued: Resources) -> None:
    chunks = await run(queued, "history", {"question": "hi", "username": "ada"})
    places = [c["queue"] for c in chunks if "queue" in c]
    assert places == [{"ahead": 2, "estimate_seconds": 3.0}, {"ahead": 1, "estimate_seconds": 3.0}]
    first_answer = next(i for i, c in enumerate(chunks) if c.get("answer"))
    assert all("queue" not in c for c in chunks[first_answer:])
    assert queued.llm.askers == ["user:ada"]  # type: ignore[union-attr]


async def test_a_text_stage_streams_places_only_when_asked(queued: Resources) -> None:
    assert all(isinstance(c, str) for c in await run(queued, "formatted", {"question": "hi"}))
    chunks = await run(queued, "formatted", {"question": "hi"}, places=True)
    assert [c for c in chunks if isinstance(c, dict)] == [
        {"queue": {"ahead": 2, "estimate_seconds": 3.0}},
        {"queue": {"ahead": 1, "estimate_seconds": 3.0}},
    ]
    assert queued.llm.askers[-1] == "anonymous"  # type: ignore[union-attr]
