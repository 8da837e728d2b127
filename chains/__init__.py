"""Chains: the runnable pieces (prompts, LLM, history, retrieval) the graph is built from."""
