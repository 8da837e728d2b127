"""`langgraph dev` serves the graph that `langgraph.json` names, offline, on a loopback port.

`langgraph-cli[inmem]` cannot live in the project's venv: it needs sse-starlette>=2
(langserve 0.3 pins <2), protobuf<7 and brings uvloop. So this test runs only when
LANGGRAPH_OVERLAY names a folder that holds it, installed beside the venv from
`langgraph-overlay.txt` (the command is at its top); otherwise it is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from stack import Child, running
from stack_plan import free_port
from tests.utils.processes import REPO

OVERLAY = os.environ.get("LANGGRAPH_OVERLAY", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (OVERLAY and (Path(OVERLAY) / "langgraph_api").is_dir()),
        reason="LANGGRAPH_OVERLAY unset: langgraph-cli[inmem] conflicts with langserve's "
        "sse-starlette<2; install it beside the venv (tests/deploy/langgraph-overlay.txt)",
    ),
]


@pytest.mark.timeout(600)
def test_langgraph_dev_answers_a_run_of_the_chat_graph(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "data"), "MAX_NEW_TOKENS": "24", "PYTHONPATH": OVERLAY}
    doc = tmp_path / "zebra.md"
    doc.write_text("# Zebra facts\n\nThe zebra named Quillon lives in the Vantara valley.\n")
    subprocess.run(
        [sys.executable, "-m", "stack_plan", "seed", str(doc)],
        cwd=REPO,
        check=True,
        env={**os.environ, **env},
        timeout=300,
    )

    # langgraph dev resolves paths against its cwd and keeps its store in ./.langgraph_api:
    # run it in tmp with our config, its relative paths made absolute.
    config = json.loads((REPO / "langgraph.json").read_text())
    config["dependencies"] = [str((REPO / dep).resolve()) for dep in config["dependencies"]]
    config["graphs"] = {name: str(REPO / spec) for name, spec in config["graphs"].items()}
    config["env"] = str(REPO / config["env"])
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    # --allow-blocking: HistoryStore.start makes its SQLite folder with a blocking mkdir,
    # which langgraph dev's blocking-call detector turns into a failed run.
    argv = [
        sys.executable,
        "-m",
        "langgraph_cli",
        "dev",
        "--config",
        "langgraph.json",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
        "--allow-blocking",
    ]
    base = f"http://127.0.0.1:{port}"
    child = Child("langgraph-dev", argv, f"{base}/ok", env)
    log_file = tmp_path / "langgraph-dev.log"
    with running(child, cwd=tmp_path, log_file=log_file, timeout=180):
        assistants = httpx.post(f"{base}/assistants/search", json={}, timeout=30).json()
        assert [a["graph_id"] for a in assistants] == ["chat"]
        response = httpx.post(
            f"{base}/runs/wait",
            timeout=300,
            json={
                "assistant_id": "chat",
                "input": {"question": "Where does Quillon live?", "username": "tester"},
            },
        )
        assert response.status_code == 200, response.text
        state = response.json()
        assert "__error__" not in state, state
        assert isinstance(state["answer"], str) and state["answer"].strip()
        assert [d["metadata"]["source"] for d in state["documents"]] == [doc.as_posix()]
