"""Who a model call queues as: the server's key, else the user, else the client."""

from __future__ import annotations

from graph.context import queue_key


def test_the_server_owned_user_wins_over_the_body_and_the_client() -> None:
    config = {"configurable": {"user_id": "ada", "client": "10.0.0.1"}}
    assert queue_key({"question": "q", "username": "bob"}, config) == "user:ada"  # type: ignore[arg-type]


def test_without_a_server_user_the_body_user_then_the_client_decide() -> None:
    config = {"configurable": {"user_id": None, "client": "10.0.0.1"}}
    assert queue_key({"question": "q", "username": "bob"}, config) == "user:bob"  # type: ignore[arg-type]
    assert queue_key({"question": "q"}, config) == "client:10.0.0.1"  # type: ignore[arg-type]
    assert queue_key({"question": "q"}, None) == "anonymous"  # type: ignore[arg-type]


def test_a_key_the_server_chose_is_used_as_is() -> None:
    config = {"configurable": {"user_id": "anonymous", "queue_key": "client:10.0.0.2"}}
    assert queue_key({"question": "q"}, config) == "client:10.0.0.2"  # type: ignore[arg-type]
