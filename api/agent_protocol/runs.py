"""Run routes: stream or wait for one turn of a stage graph, on a thread or stateless; cancel.

Everything that can refuse a run (auth, the thread's owner, a busy thread, the input's
limits, an assistant that does not exist, a database or index that is down) is checked
before the response starts, so it gets its status code. After that, a failure can only
be told inside the stream: an `error` event, as LangGraph Platform sends it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from api.agent_protocol.assistants import assistant_id, resolve_assistant
from api.agent_protocol.inputs import run_input
from api.agent_protocol.registry import ActiveRun, RunRegistry
from api.agent_protocol.schemas import THREAD_ID_PATTERN, RunCreate
from api.agent_protocol.serialize import sse
from api.agent_protocol.streaming import GraphRun, stream_parts
from api.errors import status_for
from api.identity import ANONYMOUS_USER, client_address, client_user
from api.middleware import count_tokens, note_stage
from api.schemas import stage_schemas
from chains.history import SessionNotFound, ThreadRecords
from graph.build import build_graph
from graph.options import STAGES
from graph.resources import Resources
from settings import Settings

log = logging.getLogger("ragchat.agent_protocol")

# Proxies (nginx) must pass each event on at once; clients must not cache a stream.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
ThreadId = Annotated[str, Path(pattern=THREAD_ID_PATTERN)]


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def refuse_unsupported(body: RunCreate) -> None:
    """422 for what would change a run and that ragchat does not do, never ignored."""
    if body.multitask_strategy not in (None, "reject"):
        raise _unprocessable("only multitask_strategy 'reject' is supported")
    if body.command or body.interrupt_before or body.interrupt_after:
        raise _unprocessable("ragchat's graphs have no interrupts: command is not supported")
    if body.checkpoint or body.checkpoint_id:
        raise _unprocessable("runs from an earlier checkpoint are not supported")
    if "events" in body.modes and len(body.modes) > 1:
        raise _unprocessable("stream_mode 'events' cannot be combined with other modes here")


def run_router(
    settings: Settings, resources: Resources, registry: RunRegistry, dependencies: list[Any]
) -> APIRouter:
    router = APIRouter(dependencies=dependencies, tags=["agent protocol: runs"])
    schemas = stage_schemas(settings)
    graphs = {
        stage: build_graph(options, resources, name=stage) for stage, options in STAGES.items()
    }
    # Stateless runs keep nothing: the conversation comes in the input, as on /v1.
    stateless = {
        stage: build_graph(replace(options, persist=False), resources, name=stage)
        for stage, options in STAGES.items()
    }

    async def start(
        request: Request, body: RunCreate, thread_id: str | None
    ) -> tuple[ActiveRun, GraphRun]:
        user = client_user(request)
        if thread_id is not None:
            registry.ensure_free(user, thread_id)  # before any work; checked again at start
        refuse_unsupported(body)
        stage = resolve_assistant(body.assistant_id)
        options = STAGES[stage]
        checked = run_input(
            body.input, schemas[stage].input, settings, user=user, thread_id=thread_id
        )
        graph: CompiledStateGraph = stateless[stage]
        earlier = checked.earlier
        if thread_id is not None:
            graph, earlier = graphs[stage], await thread_messages(user, thread_id, body, stage)
        elif options.history:
            checked.payload["history"] = checked.earlier
        if options.stored or thread_id is not None:
            await resources.check_history()
        if options.retrieval:
            await resources.check_index()
        note_stage(stage)
        # Server-owned, as on the LangServe routes; anonymous callers queue by address.
        configurable = {"user_id": user, "client": client_address(request)}
        if user == ANONYMOUS_USER:
            configurable["queue_key"] = f"client:{configurable['client']}"
        config: RunnableConfig = {
            "configurable": configurable,
            "run_name": f"agent:{stage}",
            "metadata": {**(body.metadata or {}), "user": user, "thread_id": thread_id},
        }
        graph_run = GraphRun(graph, checked.payload, config, body.modes, earlier)
        if checked.question_id:
            graph_run.question_id = checked.question_id
        return registry.start(user, thread_id, stream_parts(graph_run)), graph_run

    async def thread_messages(
        user: str, thread_id: str, body: RunCreate, stage: str
    ) -> list[BaseMessage]:
        """The thread's stored conversation; the thread is created first if asked to."""
        records = ThreadRecords(await resources.history_store())
        try:
            await records.get(user, thread_id)
        except SessionNotFound:
            if body.if_not_exists != "create":
                raise
            await records.create(user, thread_id, {}, if_exists="do_nothing")
        await records.add_metadata(
            user, thread_id, {"graph_id": stage, "assistant_id": assistant_id(stage)}
        )
        return await records.messages(user, thread_id)

    async def events(run: ActiveRun, keep_running: bool) -> AsyncIterator[bytes]:
        try:
            yield sse("metadata", {"run_id": run.run_id, "attempt": 1})
            async for event, data in registry.consume(run):
                if event == "messages":
                    count_tokens()  # the access log's tokens and time to first token
                yield sse(event, data)
        except Exception as exc:  # noqa: BLE001 - told in-band: the status was sent
            code, message = status_for(exc) or (500, "internal server error")
            if code == 500:
                log.exception("run %s failed", run.run_id)
            yield sse(
                "error", {"error": type(exc).__name__, "message": message, "status_code": code}
            )
        finally:
            if not keep_running:  # the client left (or the run ended): stop it with the stream
                await registry.stop(run)

    async def stream(request: Request, body: RunCreate, thread_id: str | None) -> Response:
        run, _ = await start(request, body, thread_id)
        headers = {**STREAM_HEADERS, "Content-Location": run.location}
        body_stream = events(run, keep_running=body.on_disconnect == "continue")
        return StreamingResponse(body_stream, media_type="text/event-stream", headers=headers)

    async def wait(request: Request, body: RunCreate, thread_id: str | None) -> Response:
        run, graph_run = await start(request, body, thread_id)
        try:
            async for _ in registry.consume(run):
                pass
        finally:
            await registry.stop(run)
        return JSONResponse(graph_run.final, headers={"Content-Location": run.location})

    @router.post("/threads/{thread_id}/runs/stream", response_model=None)
    async def stream_on_thread(request: Request, thread_id: ThreadId, body: RunCreate) -> Response:
        """One turn on the thread, streamed as server-sent events in the requested modes."""
        return await stream(request, body, thread_id)

    @router.post("/runs/stream", response_model=None)
    async def stream_stateless(request: Request, body: RunCreate) -> Response:
        """One turn without a thread: nothing is stored; earlier input messages are the history."""
        return await stream(request, body, None)

    @router.post("/threads/{thread_id}/runs/wait", response_model=None)
    async def wait_on_thread(request: Request, thread_id: ThreadId, body: RunCreate) -> Response:
        """One turn on the thread; the answer is the final state (`values`)."""
        return await wait(request, body, thread_id)

    @router.post("/runs/wait", response_model=None)
    async def wait_stateless(request: Request, body: RunCreate) -> Response:
        return await wait(request, body, None)

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel", status_code=202)
    async def cancel_run(
        request: Request,
        thread_id: ThreadId,
        run_id: Annotated[str, Path(max_length=64)],
        wait: Annotated[bool, Query()] = False,
        action: Annotated[str, Query(max_length=16)] = "interrupt",
    ) -> Response:
        """Stop a run in progress; what it had answered is kept, marked incomplete."""
        if action != "interrupt":
            raise _unprocessable("only action 'interrupt' is supported")
        await registry.cancel(client_user(request), thread_id, run_id, wait=wait)
        return Response(status_code=202)

    return router
