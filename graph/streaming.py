"""A graph run as a stream of answer tokens, then one closing chunk.

A compiled graph's `.astream()` yields one state update per node, so a client would get
the whole answer at once. `answer_chunks` runs the graph in LangGraph's "messages",
"updates" and "custom" modes together: the sources as soon as retrieval ends, the
answer's place in the model's queue while it waits, then the answer's tokens as the
`generate` node produces them (and any text it adds itself, such as a citation), then a
closing chunk with the stored message id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.utils import AddableDict
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamWriter

from chains.llm.queue import QUEUE_EVENT
from graph.options import GraphOptions

ANSWER_NODE = "generate"

AnswerRun = Callable[[dict[str, Any], RunnableConfig], AsyncIterator[Any]]


def source_entries(documents: list[Document]) -> list[dict[str, Any]]:
    """Numbered the way the prompt numbers them, so `[2]` in an answer means entry 2."""
    entries = []
    for number, doc in enumerate(documents, start=1):
        meta = dict(doc.metadata)
        entries.append(
            {
                "number": number,
                "id": meta.pop("id", None),
                "source": meta.pop("source", None),
                "title": meta.pop("title", None),
                "score": meta.pop("score", None),
                "page_content": doc.page_content,
                "metadata": meta,
            }
        )
    return entries


class QueuePlaceRelay(AsyncCallbackHandler):
    """Passes the model's queue events on to the graph's stream, as `{"queue": place}`.

    The model reports its place as a LangChain custom event (what `astream_events`
    clients see); the graph's own stream (`/stream`, the Agent Protocol's `custom`
    mode) carries only what a node writes.
    """

    def __init__(self, writer: StreamWriter) -> None:
        self.writer = writer

    async def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == QUEUE_EVENT:
            self.writer({"queue": data})


def answer_chunks(
    graph: CompiledStateGraph,
    options: GraphOptions,
    on_token: Callable[[], None] | None = None,
    *,
    places: bool | None = None,
) -> AnswerRun:
    """Text chunks for stages without history or sources; for the others a `{"sources"}`
    chunk first (RAG stages), `{"queue": {"ahead", "estimate_seconds"}}` chunks while the
    answer waits for the model, then `{"answer": ...}` chunks, then a closing
    `{"message_id", "session_id"}` chunk.

    `on_token` is called once per answer token (the server counts them for its log).
    `places`: yield the `{"queue"}` chunks (default: when the stream has dict chunks at
    all; a text stage's clients expect strings only).
    """
    structured = options.stored or options.returns_sources
    places = structured if places is None else places

    async def run_graph(payload: dict[str, Any], config: RunnableConfig) -> AsyncIterator[Any]:
        closing: dict[str, Any] = {}
        stream = graph.astream(
            {key: value for key, value in payload.items() if value is not None},
            config,
            stream_mode=["messages", "updates", "custom"],
        )
        async for mode, item in stream:
            text = ""
            if mode == "messages":
                chunk, metadata = item
                if metadata.get("langgraph_node") != ANSWER_NODE:
                    continue  # e.g. the condense call: never part of the answer
                text = chunk.content if isinstance(chunk.content, str) else ""
            elif mode == "custom":
                text = item.get("answer", "") if isinstance(item, dict) else ""
                if isinstance(item, dict) and "queue" in item and places:
                    yield AddableDict(queue=item["queue"])
            else:
                for update in item.values():
                    if not update:
                        continue
                    if "documents" in update and structured:
                        yield AddableDict(sources=source_entries(update["documents"]))
                    if update.get("message_id"):
                        closing["message_id"] = update["message_id"]
                    if update.get("session_id"):
                        closing["session_id"] = update["session_id"]
            if text:
                if on_token is not None:
                    on_token()
                yield AddableDict(answer=text) if structured else text
        if structured:
            yield AddableDict(closing)

    return run_graph


def answer_stream(graph: CompiledStateGraph, options: GraphOptions) -> Runnable:
    """`answer_chunks` as a runnable: what `invoke`, `stream` and `astream_events` call."""
    return RunnableLambda(answer_chunks(graph, options), name=graph.name or "ragchat")
