"""Thread routes: create, read, search, delete, state and history of a user's threads.

A thread is one of the caller's sessions (`chains.history.threads`): another user's
thread answers 404, as `GET /sessions/{id}/messages` does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.agent_protocol.registry import RunRegistry
from api.agent_protocol.schemas import (
    THREAD_ID_PATTERN,
    CheckpointQuery,
    HistoryQuery,
    ThreadCreate,
    ThreadSearch,
    state_history,
    state_object,
    thread_object,
)
from api.errors import ThreadBusy
from api.identity import client_user
from chains.history import SessionNotFound, ThreadRecords
from chains.history.threads import SEARCH_WINDOW
from graph.resources import Resources


async def _records(request: Request) -> ThreadRecords:
    resources: Resources = request.app.state.resources
    return ThreadRecords(await resources.history_store())


Records = Annotated[ThreadRecords, Depends(_records)]
ThreadId = Annotated[str, Path(pattern=THREAD_ID_PATTERN, description="the session id")]


def thread_router(registry: RunRegistry, dependencies: list[Any]) -> APIRouter:
    router = APIRouter(dependencies=dependencies, tags=["agent protocol: threads"])

    def status(user: str, thread_id: str) -> str:
        return "busy" if registry.busy(user, thread_id) else "idle"

    async def as_thread(records: ThreadRecords, user: str, thread_id: str) -> dict[str, Any]:
        info = await records.get(user, thread_id)
        messages = await records.messages(user, thread_id)
        return thread_object(info, messages, status(user, thread_id))

    @router.post("/threads")
    async def create_thread(request: Request, body: ThreadCreate, records: Records) -> dict:
        """A new thread (a session); `thread_id` may be given, `if_exists` says what then."""
        user = client_user(request)
        info = await records.create(user, body.thread_id, body.metadata, if_exists=body.if_exists)
        return await as_thread(records, user, info.thread_id)

    @router.get("/threads/{thread_id}")
    async def get_thread(request: Request, thread_id: ThreadId, records: Records) -> dict:
        return await as_thread(records, client_user(request), thread_id)

    @router.post("/threads/search")
    async def search_threads(request: Request, body: ThreadSearch, records: Records) -> list:
        """The caller's threads, newest first, whose metadata holds every pair of `metadata`."""
        user = client_user(request)
        found = await records.search(
            user, metadata=body.metadata, ids=body.ids, limit=SEARCH_WINDOW
        )
        matching = [info for info in found if body.status in (None, status(user, info.thread_id))]
        return [
            thread_object(
                info, await records.messages(user, info.thread_id), status(user, info.thread_id)
            )
            for info in matching[body.offset : body.offset + body.limit]
        ]

    @router.delete("/threads/{thread_id}", status_code=204)
    async def delete_thread(request: Request, thread_id: ThreadId, records: Records) -> Response:
        """The thread and its session's messages; refused (409) while a run is in progress."""
        user = client_user(request)
        if registry.busy(user, thread_id):
            raise ThreadBusy(f"thread {thread_id!r} has a run in progress; cancel it first")
        await records.delete(user, thread_id)
        return Response(status_code=204)

    async def state_at(
        request: Request, thread_id: str, checkpoint_id: str | None, records: ThreadRecords
    ) -> dict:
        user = client_user(request)
        info = await records.get(user, thread_id)
        messages = await records.messages(user, thread_id)
        if not checkpoint_id:
            return state_object(info, messages)
        for state in state_history(info, messages, limit=len(messages) + 1):
            if state["checkpoint"]["checkpoint_id"] == checkpoint_id:
                return state
        raise SessionNotFound(f"no checkpoint {checkpoint_id!r} in thread {thread_id!r}")

    @router.get("/threads/{thread_id}/state")
    async def get_state(request: Request, thread_id: ThreadId, records: Records) -> dict:
        """The stored conversation as the thread's state (`values.messages`)."""
        return await state_at(request, thread_id, None, records)

    @router.post("/threads/{thread_id}/state/checkpoint")
    async def get_state_at_checkpoint(
        request: Request, thread_id: ThreadId, body: CheckpointQuery, records: Records
    ) -> dict:
        """The state at a checkpoint (one per stored turn), or the latest without an id:
        what `RemoteGraph.get_state` asks for."""
        return await state_at(request, thread_id, body.checkpoint.get("checkpoint_id"), records)

    @router.get("/threads/{thread_id}/state/{checkpoint_id}")
    async def get_state_by_id(
        request: Request,
        thread_id: ThreadId,
        checkpoint_id: Annotated[str, Path(max_length=64)],
        records: Records,
    ) -> dict:
        return await state_at(request, thread_id, checkpoint_id, records)

    async def history(request: Request, thread_id: str, limit: int, records: ThreadRecords) -> list:
        user = client_user(request)
        info = await records.get(user, thread_id)
        return state_history(info, await records.messages(user, thread_id), limit)

    @router.post("/threads/{thread_id}/history")
    async def post_history(
        request: Request, thread_id: ThreadId, records: Records, body: HistoryQuery | None = None
    ) -> list:
        """One state per stored turn, newest first (what `threads.get_history` reads)."""
        return await history(request, thread_id, (body or HistoryQuery()).limit, records)

    @router.get("/threads/{thread_id}/history")
    async def get_history(
        request: Request,
        thread_id: ThreadId,
        records: Records,
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> list:
        return await history(request, thread_id, limit, records)

    return router
