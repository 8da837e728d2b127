"""The Streamlit chat app: a thin client of the ragchat HTTP API, deployable on its own."""
