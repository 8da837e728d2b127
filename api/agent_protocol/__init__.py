"""The Agent Protocol subset LangGraph's clients speak, served over ragchat's own database.

`langgraph_sdk`, `RemoteGraph`, agent-chat-ui and LangGraph Studio talk to LangGraph
Platform's API: assistants, threads, runs and `runs/stream`. Here a thread is a ragchat
session (`chains.history.threads`), an assistant is a stage graph, and a run is one
turn of that graph. What is and is not implemented: docs/agent-protocol.md.
"""
