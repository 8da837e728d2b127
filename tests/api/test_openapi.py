"""The published API changes only on purpose: /openapi.json equals the committed copy."""

from __future__ import annotations

import difflib
import json

from tests.api.openapi_snapshot import SNAPSHOT, current_openapi, render


def test_openapi_document_equals_the_committed_copy() -> None:
    current = render(current_openapi())
    committed = SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            current.splitlines(keepends=True),
            "tests/api/openapi.json",
            "current",
            n=2,
        )
    )
    assert not diff, (
        "the OpenAPI document changed; if on purpose, run "
        "`python -m tests.api.openapi_snapshot` and commit the new copy:\n" + diff[:4000]
    )


def test_every_stage_publishes_its_langserve_endpoints() -> None:
    paths = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["paths"]
    for stage in ("simple", "formatted", "history", "rag", "filtered_rag", "chat", "retrieve"):
        for endpoint in ("invoke", "batch", "stream", "stream_events"):
            assert f"/{stage}/{endpoint}" in paths, (stage, endpoint)


def test_every_operation_documents_the_errors_the_layers_around_it_answer() -> None:
    paths = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            if path != "/health":
                assert "503" in documented, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= documented, (method, path)
            if path not in ("/", "/health", "/ready", "/metrics"):
                assert "429" in documented, (method, path)
    assert {"502", "504"} <= set(paths["/chat/stream"]["post"]["responses"])
    assert {"502", "504"} <= set(paths["/v1/chat/completions"]["post"]["responses"])
    assert "502" not in paths["/retrieve/invoke"]["post"]["responses"]  # no LLM there
    assert {"303", "401", "404"} <= set(paths["/login"]["post"]["responses"])
    error = paths["/v1/chat/completions"]["post"]["responses"]["415"]
    assert error["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIErrorBody")
    error = paths["/sessions"]["post"]["responses"]["415"]
    assert error["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
