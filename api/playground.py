"""What LangServe's playground runs: a route's answer as plain text, sources included.

The playground posts to `/{route}/stream_log` and shows only the `streamed_output` of
that log: strings are joined into text, any other chunk is printed as one JSON blob per
chunk (so `{"answer": token}` chunks would read as hundreds of blobs). It also ignores
`error` events. So `stream_log` serves this view of a route: the same graph run as
`/stream`, its answer tokens as text, then the sources as a numbered list, and a failure
as a line of text naming its status and cause.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from api.errors import status_for
from api.langserve_stream import GraphTokenStream

ChunkSource = Callable[[dict[str, Any], RunnableConfig], AsyncIterator[Any]]

SNIPPET_CHARS = 300


def source_line(source: Mapping[str, Any], numbers: Sequence[Any] | None = None) -> str:
    """`[2] Title · path/to/page.html (score 0.41)`; `[1, 3]` for several chunks of a page."""
    parts = [str(source[key]) for key in ("title", "source") if source.get(key)]
    score = source.get("score")
    scored = f" (score {score:.2f})" if isinstance(score, int | float) else ""
    label = ", ".join(str(n) for n in numbers or [source.get("number", "?")])
    return f"[{label}] " + (" · ".join(parts) or "untitled") + scored


def sources_text(sources: Sequence[Mapping[str, Any]]) -> str:
    """The sources one line per page, in the order first cited, with the best score."""
    if not sources:
        return "\n\nSources: none found."
    pages: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for source in sources:
        key = (str(source.get("source") or source.get("id")), str(source.get("title") or ""))
        pages.setdefault(key, []).append(source)
    lines = [
        source_line(chunks[0], [chunk.get("number", "?") for chunk in chunks])
        for chunks in pages.values()
    ]
    return "\n\nSources:\n" + "\n".join(lines)


def retrieved_text(chunks: Sequence[Mapping[str, Any]]) -> str:
    """`/retrieve`'s scored chunks, each with the start of its text."""
    if not chunks:
        return "No chunk matched."
    blocks = []
    for number, chunk in enumerate(chunks, start=1):
        meta = chunk.get("metadata") or {}
        line = source_line({**meta, "number": number, "score": chunk.get("score")})
        text = " ".join(str(chunk.get("page_content", "")).split())
        snippet = text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else "")
        blocks.append(f"{line}\n{snippet}")
    return "\n\n".join(blocks)


def as_text(chunk: Any) -> tuple[str, list[dict[str, Any]] | None]:
    """(text to show now, sources to show at the end) of one chunk of a route's stream."""
    if isinstance(chunk, str):
        return chunk, None
    if isinstance(chunk, list):  # /retrieve answers with one list of chunks
        return retrieved_text(chunk), None
    if isinstance(chunk, Mapping):
        answer = chunk.get("answer")
        return (answer if isinstance(answer, str) else ""), chunk.get("sources")
    return str(chunk), None


def playground_runnable(source: ChunkSource, name: str) -> Runnable:
    """`source`'s chunks as text: the answer as it streams, then its sources, or the error."""

    async def text(payload: dict[str, Any], config: RunnableConfig) -> AsyncIterator[str]:
        sources: list[dict[str, Any]] | None = None
        try:
            async for chunk in source(payload, config):
                shown, found = as_text(chunk)
                sources = found if found is not None else sources
                if shown:
                    yield shown
        except Exception as exc:
            known = status_for(exc)
            if known is None:
                raise  # LangServe logs it and sends its anonymous 500 event
            status, message = known
            yield f"\n\n[error {status}] {message}"
            return
        if sources is not None:
            yield sources_text(sources)

    return GraphTokenStream(text, name=name)
