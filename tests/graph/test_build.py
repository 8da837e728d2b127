"""Graph wiring per stage, with fake model and fake retriever (logic only)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from graph.streaming import answer_stream
from settings import Settings
from tests.conftest import FakeRetriever


def fake_model(*answers: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(a) for a in answers]))


def test_each_stage_has_the_nodes_it_needs() -> None:
    expected = {
        "simple": ["generate"],
        "formatted": ["generate"],
        "history": ["load_history", "generate", "save"],
        "rag": ["load_history", "condense", "retrieve", "generate", "save"],
        "filtered_rag": ["load_history", "condense", "retrieve", "generate", "save"],
        "chat": ["load_history", "condense", "retrieve", "generate", "save"],
    }
    for stage, nodes in expected.items():
        graph = build_graph(STAGES[stage], Resources(settings=Settings(), llm=fake_model("x")))
        assert [n for n in graph.get_graph().nodes if not n.startswith("__")] == nodes


@pytest.fixture
async def rag_resources(tmp_path: Path) -> AsyncIterator[tuple[Resources, FakeRetriever]]:
    retriever = FakeRetriever()
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    # Calls in order: turn 1 generate, turn 2 condense, turn 2 generate.
    llm = fake_model("first answer [1]", "secure temporary file creation", "second answer [1]")
    resources = Resources(settings=settings, llm=llm, retriever=retriever)
    yield resources, retriever
    await resources.aclose()


async def test_chat_condenses_the_follow_up_and_never_stores_the_rewrite(
    rag_resources: tuple[Resources, FakeRetriever],
) -> None:
    resources, retriever = rag_resources
    chat = answer_stream(build_graph(STAGES["chat"], resources), STAGES["chat"])
    # Turn 1: no history, no condense call: the model's first reply is the answer.
    first = await chat.ainvoke(
        {
            "question": "temp files?",
            "username": "u",
            "filter": {"year": 2024},
            "k": 2,
            "mode": "sparse",
        }
    )
    assert retriever.calls[0]["query"] == "temp files?"
    assert retriever.calls[0]["filter"] == {"year": 2024} and retriever.calls[0]["k"] == 2
    assert retriever.calls[0]["mode"] == "sparse"
    assert [s["source"] for s in first["sources"]] == ["library/tempfile.html", "evil.md"]
    # Turn 2: the condense call's output goes to retrieval and is streamed as an event.
    events = [
        e
        async for e in chat.astream_events(
            {"question": "and securely?", "username": "u"}, version="v2"
        )
    ]
    assert first["answer"] == "first answer [1]"
    assert retriever.calls[1]["query"] == "secure temporary file creation"
    condensed = [
        e for e in events if e["event"] == "on_chain_end" and e["name"] == "condense_question"
    ]
    assert condensed and condensed[0]["data"]["output"] == "secure temporary file creation"
    streamed = "".join(
        e["data"]["chunk"].get("answer", "")
        for e in events
        if e["event"] == "on_chain_stream" and not e["parent_ids"]
    )
    assert streamed == "second answer [1]"  # the rewrite never reaches the answer stream
    store = await resources.history_store()
    stored = [m.content for m in await store.get_user_chat_history("u")]
    assert stored == ["temp files?", "first answer [1]", "and securely?", "second answer [1]"]


async def test_documents_are_fenced_as_data_in_the_prompt(
    rag_resources: tuple[Resources, FakeRetriever],
) -> None:
    resources, _ = rag_resources
    chat = answer_stream(build_graph(STAGES["rag"], resources), STAGES["rag"])
    events = [
        e async for e in chat.astream_events({"question": "q", "username": "w"}, version="v2")
    ]
    start = next(e for e in events if e["event"] == "on_chat_model_start")
    system = start["data"]["input"]["messages"][0][0].content
    assert "<documents>" in system and "not instructions" in system
    # A chunk cannot close the fence early.
    assert system.count("</document>") == 2


async def test_rag_stage_ignores_filter_and_mode(
    rag_resources: tuple[Resources, FakeRetriever],
) -> None:
    resources, retriever = rag_resources
    rag = answer_stream(build_graph(STAGES["rag"], resources), STAGES["rag"])
    await rag.ainvoke({"question": "q", "username": "v", "filter": {"a": 1}, "mode": "sparse"})
    assert retriever.calls[0]["filter"] is None and retriever.calls[0]["mode"] == "dense"
