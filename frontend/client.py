"""All HTTP the frontend does: LangServe streaming through `RemoteRunnable`, REST through httpx.

Every failure leaves this module as a `BackendError` whose message can be shown
as it is; the app never sees an httpx exception or a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from langserve import RemoteRunnable

from frontend.errors import BackendError, to_backend_error

# The stages of the API contract, in the order a learner meets them.
STAGES: dict[str, str] = {
    "simple": "Simple: the raw question",
    "formatted": "Formatted: a system prompt",
    "history": "History: remembers the conversation",
    "rag": "RAG: answers from your documents",
    "filtered_rag": "Filtered RAG: + metadata filter",
    "chat": "Chat: everything (hybrid search)",
}
HISTORY_STAGES = frozenset({"history", "rag", "filtered_rag", "chat"})
RAG_STAGES = frozenset({"rag", "filtered_rag", "chat"})
FILTER_STAGES = frozenset({"filtered_rag", "chat"})
TUNABLE_STAGES = frozenset({"chat"})
CLOSING_KEYS = ("sources", "message_id", "session_id")


def _read_error_body(response: httpx.Response) -> None:
    """Read an error's body while the stream is open: LangServe's 422 explains itself there,
    and `RemoteRunnable.stream` would otherwise close the response unread."""
    if response.status_code >= 400:
        response.read()


@dataclass
class AnswerStream:
    """The answer's text, chunk by chunk, for `st.write_stream`.

    String chunks (/simple, /formatted) pass through; dict chunks give their `answer`.
    The sources (which RAG stages send before the first token) and the closing chunk's
    ids are kept in `closing`; `on_sources` is called as soon as the sources arrive, so
    the app can show them while the answer is still being written. While the answer
    waits for the model, `on_queue` hears its place (`{"ahead", "estimate_seconds"}`),
    then `None` once the first words arrive.
    """

    chunks: Iterator[Any]
    backend_url: str
    on_sources: Callable[[list[dict[str, Any]]], None] | None = None
    on_queue: Callable[[dict[str, Any] | None], None] | None = None
    closing: dict[str, Any] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What arrived so far: the whole answer, or what was said before a failure."""
        return "".join(self.parts)

    def close(self) -> None:
        """Hang up now: the server then stops generating and stores what was said.

        Left to the garbage collector, the response stays open as long as anything holds
        the stopped run's traceback, and the model keeps writing for nobody.
        """
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()

    def __iter__(self) -> Iterator[str]:
        try:
            for chunk in self.chunks:
                text = chunk if isinstance(chunk, str) else None
                if isinstance(chunk, dict):
                    text = chunk.get("answer") if isinstance(chunk.get("answer"), str) else None
                    self.closing.update({k: chunk[k] for k in CLOSING_KEYS if k in chunk})
                    if "sources" in chunk and self.on_sources is not None:
                        self.on_sources(list(chunk["sources"] or []))
                    if isinstance(chunk.get("queue"), dict) and self.on_queue is not None:
                        self.on_queue(chunk["queue"])
                if text and not self.parts and self.on_queue is not None:
                    self.on_queue(None)
                if text:
                    self.parts.append(text)
                    yield text
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable message
            raise to_backend_error(exc, self.backend_url) from None


class BackendClient:
    """One backend, one identity header; thread-safe, so a Streamlit cache may share it."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 15.0,
        stream_timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.stream_timeout = stream_timeout
        self._http = httpx.Client(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    # --- streaming ---------------------------------------------------------
    def stream_answer(
        self,
        stage: str,
        payload: dict[str, Any],
        on_sources: Callable[[list[dict[str, Any]]], None] | None = None,
        on_queue: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> AnswerStream:
        """Start streaming one answer; nothing is sent until the stream is iterated."""
        if stage not in STAGES:
            raise BackendError(f"Unknown stage '{stage}'.")
        # The timeout bounds the wait for each token, not the whole answer.
        runnable = RemoteRunnable(
            f"{self.base_url}/{stage}", timeout=self.stream_timeout, headers=self.headers
        )
        runnable.sync_client.event_hooks = {"response": [_read_error_body]}
        body = {key: value for key, value in payload.items() if value is not None}
        return AnswerStream(runnable.stream(body), self.base_url, on_sources, on_queue)

    # --- REST -------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json() if response.content else None
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable message
            raise to_backend_error(exc, self.base_url) from None

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def list_sessions(self, username: str) -> list[dict[str, Any]]:
        return self._call("GET", "/sessions", params={"username": username}) or []

    def create_session(self, username: str, session_id: str | None = None) -> dict[str, Any]:
        body = {"username": username, **({"session_id": session_id} if session_id else {})}
        return self._call("POST", "/sessions", json=body)

    def messages(self, username: str, session_id: str) -> list[dict[str, Any]]:
        path = f"/sessions/{quote(session_id, safe='')}/messages"
        return self._call("GET", path, params={"username": username}) or []

    def delete_session(self, username: str, session_id: str) -> None:
        path = f"/sessions/{quote(session_id, safe='')}"
        self._call("DELETE", path, params={"username": username})

    def send_feedback(
        self, username: str, message_id: str, score: int, comment: str | None = None
    ) -> None:
        body: dict[str, Any] = {"username": username, "message_id": message_id, "score": score}
        if comment:
            body["comment"] = comment
        self._call("POST", "/feedback", json=body)

    def index_stats(self) -> dict[str, Any]:
        return self._call("GET", "/index/stats")

    # --- documents and their ingest jobs -----------------------------------
    def upload_documents(
        self,
        files: Sequence[tuple[str, bytes]],
        metadata: Mapping[str, str] | None = None,
        username: str | None = None,
    ) -> list[dict[str, Any]]:
        """Queue one ingest job per file; the jobs come back at once, still queued."""
        if not files:
            raise BackendError("Choose at least one file to upload.")
        form: dict[str, str] = {}
        if metadata:
            form["metadata"] = json.dumps(dict(metadata))
        if username:
            form["username"] = username
        parts = [("files", (name, content)) for name, content in files]
        # Whole files travel in this request: give it the long timeout, not the REST one.
        body = self._call("POST", "/documents", data=form, files=parts, timeout=self.stream_timeout)
        return list((body or {}).get("jobs") or [])

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{quote(job_id, safe='')}")

    def jobs(self, job_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Several jobs in one request: polling one call per job would hit the rate limit."""
        params = {"ids": ",".join(job_ids), "limit": max(1, min(len(job_ids), 500))}
        return list((self._call("GET", "/jobs", params=params) or {}).get("jobs") or [])

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """A queued job comes back cancelled; a running one stops at its next step."""
        return self._call("DELETE", f"/jobs/{quote(job_id, safe='')}")

    def documents(
        self, offset: int = 0, limit: int = 50, filter: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One page of the index's documents: `{"documents", "total", "offset", "limit"}`."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if filter:
            params["filter"] = json.dumps(dict(filter))
        return self._call("GET", "/documents", params=params)

    def delete_document(self, source: str) -> dict[str, Any]:
        """Remove every chunk of `source`: `{"source", "chunks_removed"}`."""
        return self._call("DELETE", f"/documents/{quote(source, safe='')}")

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The chunks `/retrieve` finds, best first, without asking the model anything."""
        fields = {"query": query, "k": k, "mode": mode, "filter": filter}
        body = {"input": {key: value for key, value in fields.items() if value is not None}}
        output = (self._call("POST", "/retrieve/invoke", json=body) or {}).get("output")
        if not isinstance(output, list):
            raise BackendError("The backend sent a response this app cannot read: no chunks.")
        return output
