"""One run of a stage graph as the Agent Protocol's stream parts: `(event, data)` pairs.

The graph runs once in LangGraph's own stream modes and each part is translated:
`values` (the state, with the conversation as `messages`), `updates` (per node),
`messages-tuple` (the answer's tokens as `[message chunk, metadata]`, sent under the
event name `messages`, as LangGraph Platform does), `custom`, and `events`
(`astream_events` v2, which cannot be combined with the others here).

Tokens come only from the `generate` node, as everywhere in ragchat: the question
rewrite of a follow-up is never part of the answer. Text the node adds itself (a
citation the model left out) is sent as one more chunk of the same message.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from api.agent_protocol.serialize import jsonable
from graph.streaming import ANSWER_NODE, source_entries

GRAPH_MODES = {
    "values": "values",
    "updates": "updates",
    "messages-tuple": "messages",
    "custom": "custom",
}
VALUE_KEYS = ("question", "answer", "message_id", "session_id", "standalone_question")

StreamPart = tuple[str, Any]


@dataclass
class GraphRun:
    """What one run streams: the graph, its input and config, the conversation before it."""

    graph: CompiledStateGraph
    payload: dict[str, Any]
    config: RunnableConfig
    modes: list[str]
    earlier: list[BaseMessage]
    question_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    final: dict[str, Any] = field(default_factory=dict)  # the last `values`, for runs/wait


def present_values(state: dict[str, Any], run: GraphRun) -> dict[str, Any]:
    """The state as clients of chat graphs expect it: the whole conversation as `messages`
    (what is stored, this question, and the answer once there is one), plus ragchat's own
    fields and the numbered `sources`."""
    messages: list[BaseMessage] = list(run.earlier)
    if state.get("question"):
        messages.append(HumanMessage(state["question"], id=run.question_id))
    if state.get("answer"):
        messages.append(AIMessage(state["answer"], id=state.get("message_id") or None))
    values: dict[str, Any] = {"messages": jsonable(messages)}
    values.update({key: state[key] for key in VALUE_KEYS if state.get(key) is not None})
    if state.get("documents"):
        values["sources"] = jsonable(source_entries(state["documents"]))
    return values


async def stream_parts(run: GraphRun) -> AsyncIterator[StreamPart]:
    """The run's parts in the order the graph produces them; `run.final` holds the end state."""
    if "events" in run.modes:
        async for event in run.graph.astream_events(run.payload, run.config, version="v2"):
            yield "events", jsonable(event)
        return
    graph_modes = list(dict.fromkeys([*(GRAPH_MODES[m] for m in run.modes), "values", "custom"]))
    last_meta: dict[str, Any] = {}
    last_id: str | None = None
    async for mode, item in run.graph.astream(run.payload, run.config, stream_mode=graph_modes):
        if mode == "values":
            run.final = present_values(item, run)
            if "values" in run.modes:
                yield "values", run.final
        elif mode == "messages":
            chunk, metadata = item
            if metadata.get("langgraph_node") != ANSWER_NODE:
                continue
            last_meta, last_id = metadata, chunk.id
            yield "messages", [jsonable(chunk), jsonable(metadata)]
        elif mode == "updates":
            yield "updates", jsonable(item)
        elif mode == "custom":
            added = item.get("answer") if isinstance(item, dict) else None
            if added and "messages-tuple" in run.modes:
                chunk = AIMessageChunk(content=added, id=last_id)
                yield "messages", [jsonable(chunk), jsonable(last_meta)]
            if "custom" in run.modes:
                yield "custom", jsonable(item)
