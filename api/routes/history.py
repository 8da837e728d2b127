"""REST routes over the chat history: my sessions, their messages, feedback on answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field, StrictStr, field_validator

from api.body import json_body
from api.identity import acting_user
from chains.history import (
    HistoryStore,
    SessionInfo,
    StoredMessage,
    validate_comment,
    validate_message_id,
    validate_session_id,
)
from graph.resources import Resources

UsernameParam = Annotated[
    str | None, Query(max_length=64, description="ignored when API keys are on")
]


class NewSession(BaseModel):
    username: StrictStr | None = Field(None, max_length=64)
    session_id: StrictStr | None = Field(None, max_length=64)


class Feedback(BaseModel):
    username: StrictStr | None = Field(None, max_length=64)
    message_id: StrictStr = Field(..., min_length=1, max_length=128)
    score: Literal[-1, 1]
    comment: StrictStr | None = Field(None, max_length=2000)

    @field_validator("message_id")
    @classmethod
    def _clean_message_id(cls, value: str) -> str:
        return validate_message_id(value)

    @field_validator("comment")
    @classmethod
    def _clean_comment(cls, value: str | None) -> str | None:
        return validate_comment(value)


def _checked_session_id(session_id: str) -> str:
    try:
        return validate_session_id(session_id)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


async def _history_store(request: Request) -> HistoryStore:
    resources: Resources = request.app.state.resources
    return await resources.history_store()


Store = Annotated[HistoryStore, Depends(_history_store)]


def history_router(dependencies: list[Any]) -> APIRouter:
    router = APIRouter(dependencies=dependencies, tags=["sessions"])

    @router.get("/sessions", response_model=list[SessionInfo])
    async def list_sessions(
        request: Request, history: Store, username: UsernameParam = None
    ) -> list[SessionInfo]:
        return await history.list_sessions(acting_user(request, username))

    @router.post(
        "/sessions", response_model=SessionInfo, status_code=201, dependencies=[json_body()]
    )
    async def create_session(request: Request, body: NewSession, history: Store) -> SessionInfo:
        session_id = None if body.session_id is None else _checked_session_id(body.session_id)
        return await history.create_session(acting_user(request, body.username), session_id)

    @router.get("/sessions/{session_id}/messages", response_model=list[StoredMessage])
    async def read_session(
        request: Request, session_id: str, history: Store, username: UsernameParam = None
    ) -> list[StoredMessage]:
        return await history.get_messages(
            acting_user(request, username), _checked_session_id(session_id)
        )

    @router.delete("/sessions/{session_id}", status_code=204)
    async def delete_session(
        request: Request, session_id: str, history: Store, username: UsernameParam = None
    ) -> Response:
        await history.delete_session(
            acting_user(request, username), _checked_session_id(session_id)
        )
        return Response(status_code=204)

    @router.post("/feedback", dependencies=[json_body()])
    async def feedback(request: Request, body: Feedback, history: Store) -> dict[str, bool]:
        await history.set_feedback(
            acting_user(request, body.username), body.message_id, body.score, body.comment
        )
        return {"ok": True}

    return router
