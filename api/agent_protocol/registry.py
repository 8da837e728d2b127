"""Runs in progress: each in an asyncio task of its own, at most one per thread.

A run's task is not the request's: a cancel request (or the client leaving, unless the
run asked for `on_disconnect: "continue"`) cancels the task once, as a plain asyncio
cancellation, so LangGraph unwinds properly and the `generate` node keeps the partial
answer, marked incomplete (see `graph/nodes.py`).
Starlette's own cancellation of a response goes through an anyio cancel scope that
would cut that cleanup short (the reason for `api.langserve_stream.in_own_task`).

The registry lives in the process: with several workers, "busy" and cancel apply to the
runs of the worker that received them (docs/agent-protocol.md).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

import anyio

from api.agent_protocol.streaming import StreamPart
from api.errors import RunNotFound, ThreadBusy


@dataclass
class ActiveRun:
    user: str
    thread_id: str | None
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    parts: asyncio.Queue[StreamPart | BaseException | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    @property
    def location(self) -> str:
        """Where LangGraph Platform says the run lives (the SDK reads the run id from it)."""
        if self.thread_id is None:
            return f"/runs/{self.run_id}"
        return f"/threads/{self.thread_id}/runs/{self.run_id}"


async def _pump(run: ActiveRun, source: AsyncIterator[StreamPart]) -> None:
    """Move the source's parts to the run's queue; a failure goes too, a cancel ends quietly
    (a cancelled run's stream ends without an error event, as on LangGraph Platform)."""
    try:
        async with aclosing(source) as parts:  # type: ignore[type-var]
            async for part in parts:
                run.parts.put_nowait(part)
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # noqa: BLE001 - handed to whoever reads the run
        run.parts.put_nowait(exc)


class RunRegistry:
    """The runs of this process, by run id."""

    def __init__(self) -> None:
        self._runs: dict[str, ActiveRun] = {}

    def busy(self, user: str, thread_id: str) -> bool:
        return any(r.user == user and r.thread_id == thread_id for r in self._runs.values())

    def ensure_free(self, user: str, thread_id: str) -> None:
        if self.busy(user, thread_id):
            raise ThreadBusy(
                f"thread {thread_id!r} has a run in progress (multitask strategy 'reject')"
            )

    def start(
        self, user: str, thread_id: str | None, source: AsyncIterator[StreamPart]
    ) -> ActiveRun:
        """Start `source` as the thread's run; ThreadBusy (409) if one is in progress.

        No await between the check and the registration, so two requests cannot both pass.
        """
        if thread_id is not None:
            self.ensure_free(user, thread_id)
        run = ActiveRun(user=user, thread_id=thread_id)
        self._runs[run.run_id] = run
        run.task = asyncio.create_task(_pump(run, source), name=f"run {run.run_id}")
        run.task.add_done_callback(lambda _: self._finished(run))
        return run

    def _finished(self, run: ActiveRun) -> None:
        # Here rather than in `_pump`: a task cancelled before its first step never runs it.
        self._runs.pop(run.run_id, None)
        run.parts.put_nowait(None)

    async def consume(self, run: ActiveRun) -> AsyncIterator[StreamPart]:
        """The run's parts until it ends; its failure is raised here."""
        while (item := await run.parts.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def stop(self, run: ActiveRun) -> None:
        """Cancel the run once and wait for its cleanup, even from a cancelled request."""
        if run.task is None or run.task.done():
            return
        run.task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(run.task, return_exceptions=True)

    async def cancel(self, user: str, thread_id: str, run_id: str, *, wait: bool) -> None:
        """Cancel the caller's run on that thread; RunNotFound for any other."""
        run = self._runs.get(run_id)
        if run is None or run.user != user or run.thread_id != thread_id or run.task is None:
            raise RunNotFound(f"no run {run_id!r} in progress on thread {thread_id!r}")
        if wait:
            await self.stop(run)
        else:
            run.task.cancel()
