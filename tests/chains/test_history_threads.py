"""ThreadRecords: sessions as Agent Protocol threads, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from chains.history import HistoryStore, SessionNotFound, ThreadExists, ThreadRecords
from chains.history.tables import ThreadRow


async def test_a_thread_is_a_session_with_metadata(history_store: HistoryStore) -> None:
    threads = ThreadRecords(history_store)
    created = await threads.create("ada", "t-1", {"project": "a"})
    assert created.thread_id == "t-1" and created.metadata == {"project": "a"}
    assert [s.id for s in await history_store.list_sessions("ada")] == ["t-1"]
    await history_store.record_exchange(
        "ada", "t-1", request_id=None, question="Q?", answer="A.", answer_message_id="m-1"
    )
    assert [m.content for m in await threads.messages("ada", "t-1")] == ["Q?", "A."]
    assert (await threads.get("ada", "t-1")).message_count == 2


async def test_ids_metadata_and_owners(history_store: HistoryStore) -> None:
    threads = ThreadRecords(history_store)
    await threads.create("ada", "t-1", {"project": "a"})
    await history_store.create_session("ada", "from-the-app")  # a session without metadata
    with pytest.raises(ThreadExists):
        await threads.create("ada", "t-1", {})
    again = await threads.create("ada", "t-1", {"project": "b"}, if_exists="do_nothing")
    assert again.metadata == {"project": "a"}
    await threads.add_metadata("ada", "from-the-app", {"graph_id": "chat"})
    found = await threads.search("ada", metadata={"graph_id": "chat"})
    assert [t.thread_id for t in found] == ["from-the-app"]
    assert {t.thread_id for t in await threads.search("ada")} == {"t-1", "from-the-app"}
    assert [t.thread_id for t in await threads.search("ada", ids=["t-1"])] == ["t-1"]
    # Another user's thread of the same id is absent, and the id stays free for them.
    with pytest.raises(SessionNotFound):
        await threads.get("bob", "t-1")
    assert await threads.search("bob") == []
    assert (await threads.create("bob", "t-1", {})).metadata == {}


async def test_deleting_the_session_deletes_the_metadata_row(history_store: HistoryStore) -> None:
    threads = ThreadRecords(history_store)
    await threads.create("ada", "t-1", {"project": "a"})
    await history_store.delete_session("ada", "t-1")
    with pytest.raises(SessionNotFound):
        await threads.get("ada", "t-1")
    async with history_store.database.transaction() as db:
        assert await db.scalar(select(func.count()).select_from(ThreadRow)) == 0
