"""Wire the nodes into one compiled StateGraph per stage.

`graph` at the bottom is the full `/chat` graph that `langgraph.json` serves.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.nodes import ChatNodes
from graph.options import STAGES, GraphOptions
from graph.resources import Resources
from graph.state import ChatInput, ChatOutput, ChatState


def build_graph(
    options: GraphOptions, resources: Resources | None = None, *, name: str = "ragchat"
) -> CompiledStateGraph:
    """START → [load_history → record_question] → [condense → retrieve → focus] → generate
    → [save] → END: a stored turn writes its question before anything can fail, and its
    answer at the end."""
    nodes = ChatNodes(options, resources or Resources())
    builder = StateGraph(ChatState, input_schema=ChatInput, output_schema=ChatOutput)
    path: list[str] = []
    if options.stored:
        builder.add_node("load_history", nodes.load_history)
        builder.add_node("record_question", nodes.record_question)
        path += ["load_history", "record_question"]
    if options.retrieval:
        if options.history:
            builder.add_node("condense", nodes.condense)
            path.append("condense")
        builder.add_node("retrieve", nodes.retrieve)
        builder.add_node("focus", nodes.focus)
        path += ["retrieve", "focus"]
    builder.add_node("generate", nodes.generate)
    path.append("generate")
    if options.stored:
        builder.add_node("save", nodes.save)
        path.append("save")
    for start, end in zip([START, *path], [*path, END], strict=True):
        builder.add_edge(start, end)
    return builder.compile(name=name)


def build_stage(stage: str, resources: Resources | None = None) -> CompiledStateGraph:
    return build_graph(STAGES[stage], resources, name=stage)


graph = build_stage("chat")
