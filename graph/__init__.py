"""The ragchat LangGraph: one state graph, built per stage from the chains."""
