"""`langgraph.json` names the compiled `/chat` graph, and that graph answers with the local model.

The file is loaded the way LangGraph's server loads it (a module from a file path), with
DATA_DIR under tmp: `graph/build.py` builds its graph at import time from the settings.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from langgraph.graph.state import CompiledStateGraph

from chains.index.backend import IndexUnavailable
from chains.prompts import NO_PASSAGES_ANSWER
from chains.retrieval import reset_retrievers
from settings import get_settings
from tests.utils.index_states import unreadable_index
from tests.utils.processes import REPO

CONFIG = json.loads((REPO / "langgraph.json").read_text())
FULL_CHAT_NODES = {"load_history", "record_question", "condense", "retrieve", "generate", "save"}


def load_graph_module(spec: str) -> tuple[ModuleType, str]:
    """`./path/file.py:attr` → the freshly executed module and the attribute name."""
    path, _, attr = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("langgraph_json_graph", REPO / path)
    assert module_spec and module_spec.loader, spec
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module, attr


@pytest.fixture
def chat_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CompiledStateGraph]:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAX_NEW_TOKENS", "24")
    get_settings.cache_clear()
    try:
        module, attr = load_graph_module(CONFIG["graphs"]["chat"])
        yield getattr(module, attr)
    finally:
        get_settings.cache_clear()


def test_config_is_what_the_langgraph_cli_expects() -> None:
    assert CONFIG["dependencies"] == ["."]
    assert CONFIG["graphs"] == {"chat": "./graph/build.py:graph"}
    assert CONFIG["env"] == ".env" and (REPO / ".env.example").is_file()
    assert CONFIG["python_version"] == "3.11"


def test_it_names_the_full_chat_graph(chat_graph: CompiledStateGraph) -> None:
    assert isinstance(chat_graph, CompiledStateGraph)
    assert set(chat_graph.nodes) >= FULL_CHAT_NODES, set(chat_graph.nodes)


@pytest.mark.slow
async def test_the_graph_answers_once_with_the_local_model(
    chat_graph: CompiledStateGraph, tmp_path: Path
) -> None:
    from chains.ingest.pipeline import ingest

    doc = tmp_path / "zebra.md"
    doc.write_text("# Zebra facts\n\nThe zebra named Quillon lives in the Vantara valley.\n")
    assert ingest(get_settings(), [doc], progress=False).chunks == 1

    result = await chat_graph.ainvoke(
        {"question": "Where does Quillon live?", "username": "tester"}
    )
    assert isinstance(result["answer"], str) and result["answer"].strip()
    assert result["message_id"] and result["session_id"]
    assert [d.metadata["source"] for d in result["documents"]] == [doc.as_posix()]
    # The exchange was stored under DATA_DIR (the graph's `save` node ran).
    assert (tmp_path / "data" / "ragchat.sqlite3").is_file()


@pytest.mark.slow
async def test_the_graph_answers_before_any_ingest_that_the_documents_hold_nothing(
    chat_graph: CompiledStateGraph, tmp_path: Path
) -> None:
    """A deployment before its first document answers, without sources (a missing index
    is an empty one); only an index that cannot be read is IndexUnavailable."""
    result = await chat_graph.ainvoke({"question": "Say hello.", "username": "tester"})
    assert result["answer"] == NO_PASSAGES_ANSWER and result["documents"] == []
    unreadable_index(tmp_path / "data" / "index")
    reset_retrievers()
    try:
        with pytest.raises(IndexUnavailable, match="unreadable"):
            await chat_graph.ainvoke({"question": "Say hello.", "username": "tester"})
    finally:
        reset_retrievers()
