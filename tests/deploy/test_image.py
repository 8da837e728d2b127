"""The image a Space deploys, built (as `make image` builds it) and run as a Space runs it.

uid 1000, port 7860, nothing but the image's own settings, a named volume on its data
folder: `/ready`, a streamed and cited answer from the embedded model over the seeded
samples through `RemoteRunnable`, an upload through `POST /documents`, then a restart on
the same volume that keeps both the upload and the session. Also: the process is not
root, no layer or setting holds a secret, and the frontend image (the UI Space) serves
the Streamlit app against this backend. Containers and the volume are always removed.

Cold (no base, no layer cache) the build takes the longest part of this module; with
podman's layer cache a code change rebuilds only the last layers. SKIP_DOCKER=1 skips it
on a machine that can neither run nor install a container engine (never set in CI).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from langserve import RemoteRunnable

from deploy.engine import Engine
from deploy.image import build_frontend_image, build_image
from stack_plan import free_port
from tests.deploy.test_dockerfile import SECRET_NAME
from tests.integration.test_documents_live import ENDED, post_files, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]

TAG, UI_TAG = "ragchat-test", "ragchat-ui-test"
DATA_DIR = "/home/user/app/data"  # the image's DATA_DIR, where a Space mounts its storage
QUESTION = "How do I create a temporary file securely?"
USER = "space-visitor"
UPLOAD = ("lighthouse-rota.md", b"# Lighthouse rota\n\nOduya Brenner services the lamp.\n")
# Values shaped like real credentials (HuggingFace, Pinecone, OpenAI-style, AWS).
SECRET_VALUE = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{30,}|pcsk_[A-Za-z0-9_]{20,}|sk-[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})"
)


@dataclass
class Run:
    engine: Engine
    name: str
    url: str


@pytest.fixture(scope="module")
def engine() -> Engine:
    if os.environ.get("SKIP_DOCKER") == "1":
        pytest.skip("SKIP_DOCKER=1")
    built = build_image(TAG)
    print(f"\nimage built in {built.seconds:.0f} s (base {built.base})")
    return built.engine


@pytest.fixture(scope="module")
def volume(engine: Engine) -> Iterator[str]:
    name = f"ragchat-test-data-{uuid.uuid4().hex[:8]}"
    engine.run("volume", "create", name, capture=True)
    try:
        yield name
    finally:
        engine.run("volume", "rm", "--force", name, check=False, capture=True)


def remove(engine: Engine, name: str) -> None:
    """Stop (SIGTERM, then SIGKILL after 5 s) and remove; docker's `rm` has no --time."""
    engine.run("stop", "--time", "5", name, check=False, capture=True)
    engine.run("rm", "--force", name, check=False, capture=True)


def running(engine: Engine, name: str) -> bool:
    state = engine.run("inspect", "--format", "{{.State.Running}}", name, check=False, capture=True)
    return state.stdout.strip() == "true"


def wait_ready(engine: Engine, name: str, url: str, timeout: float = 300.0) -> float:
    """Seconds until `/ready` answered 200; fails with the container's log if it died."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if not running(engine, name):
            break
        time.sleep(0.5)
    logs = engine.run("logs", name, check=False, capture=True)
    raise AssertionError(f"{name} never got ready:\n{(logs.stdout + logs.stderr)[-4000:]}")


@contextmanager
def space(engine: Engine, volume: str) -> Iterator[Run]:
    """The image as a Space runs it: uid 1000, port 7860, the data folder on `volume`."""
    name = f"ragchat-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    argv = ["run", "--detach", "--name", name, "--user", "1000"]
    argv += ["--publish", f"127.0.0.1:{port}:7860", "--volume", f"{volume}:{DATA_DIR}", TAG]
    started = time.monotonic()
    try:
        engine.run(*argv, capture=True)
        run = Run(engine, name, f"http://127.0.0.1:{port}")
        ready = wait_ready(engine, name, run.url)
        print(f"\n{name}: /ready after {ready:.1f} s ({time.monotonic() - started:.1f} s from run)")
        yield run
    finally:
        remove(engine, name)


def ask(url: str, question: str, **extra: str) -> tuple[list[dict], str, dict, float]:
    """Sources, answer text, closing chunk, seconds to the first answer token."""
    chat = RemoteRunnable(f"{url}/chat", timeout=300)
    sources: list[dict] = []
    parts: list[str] = []
    closing: dict = {}
    started, first = time.monotonic(), 0.0
    for chunk in chat.stream({"question": question, "username": USER, **extra}):
        sources = chunk.get("sources", sources)
        if chunk.get("answer"):
            first = first or time.monotonic() - started
            parts.append(chunk["answer"])
        closing.update({k: chunk[k] for k in ("message_id", "session_id") if k in chunk})
    return sources, "".join(parts), closing | {"chunks": len(parts)}, first


def test_the_image_answers_keeps_uploads_and_history_across_a_restart(
    engine: Engine, volume: str
) -> None:
    with space(engine, volume) as run:
        health = httpx.get(f"{run.url}/health", timeout=10).json()
        assert health["llm"]["loaded"] is not False, health
        uid = engine.output("exec", run.name, "sh", "-c", "awk '/^Uid:/ {print $2}' /proc/1/status")
        assert uid == "1000", uid

        sources, answer, closing, ttft = ask(run.url, QUESTION)
        print(f"\nfirst answer: TTFT {ttft:.1f} s, {closing['chunks']} chunks: {answer[:200]!r}")
        assert sources and all(s["source"].startswith("samples/") for s in sources), sources
        assert closing["chunks"] > 1 and answer.strip()  # streamed, token by token
        assert closing["message_id"] and closing["session_id"]

        response = post_files(run.url, [UPLOAD], data={"username": USER})
        assert response.status_code == 202, response.text
        job = wait_for(run.url, response.json()["jobs"][0]["id"], lambda j: j["state"] in ENDED)
        assert job["state"] == "done", job

    with space(engine, volume) as run:  # a new container on the same volume
        listed = httpx.get(f"{run.url}/documents", params={"limit": 500}, timeout=30).json()
        assert UPLOAD[0] in {d["source"] for d in listed["documents"]}
        messages = httpx.get(
            f"{run.url}/sessions/{closing['session_id']}/messages",
            params={"username": USER},
            timeout=30,
        ).json()
        assert [m["role"] for m in messages] == ["human", "ai"], messages
        assert messages[0]["content"] == QUESTION and messages[1]["content"] == answer


def test_no_layer_and_no_setting_of_the_image_holds_a_secret(engine: Engine) -> None:
    history = engine.output("history", "--no-trunc", "--format", "{{.CreatedBy}}", TAG)
    config = engine.output("inspect", TAG)
    env = json.loads(config)[0]["Config"].get("Env") or []
    assignment = re.compile(rf"\b{SECRET_NAME}=\S", re.IGNORECASE)
    assert not [line for line in history.splitlines() if assignment.search(line)]
    assert not [e for e in env if re.fullmatch(rf"{SECRET_NAME}=.+", e, re.IGNORECASE)], env
    assert not SECRET_VALUE.search(history + config)
    files = engine.output("run", "--rm", "--user", "1000", TAG, "ls", "-A", "/home/user/app")
    assert ".env" not in files.split() and ".git" not in files.split(), files


def test_the_frontend_image_serves_the_app_against_the_backend_container(
    engine: Engine, volume: str
) -> None:
    build_frontend_image(UI_TAG, engine=engine)
    name = f"ragchat-ui-test-{uuid.uuid4().hex[:8]}"
    with space(engine, volume) as backend:
        # The backend's network: the app reaches it on loopback, as BACKEND_URL says.
        argv = ["run", "--detach", "--name", name, "--user", "1000"]
        argv += ["--network", f"container:{backend.name}", "--env", "PORT=8501"]
        argv += ["--env", "BACKEND_URL=http://127.0.0.1:7860", UI_TAG]
        try:
            engine.run(*argv, capture=True)
            ready = wait_ready_ui(engine, name)
            print(f"\nfrontend: /_stcore/health after {ready:.1f} s")
            rendered = engine.output(
                "exec",
                name,
                "python",
                "-c",
                "from streamlit.testing.v1 import AppTest; "
                "at = AppTest.from_file('frontend/app.py', default_timeout=60); at.run(); "
                "assert not at.exception, at.exception; "
                "from frontend.client import BackendClient; "
                "from frontend.config import load_settings; "
                "print(BackendClient(load_settings().backend_url).health()['llm'])",
            )
            assert "loaded" in rendered, rendered
        finally:
            remove(engine, name)


def wait_ready_ui(engine: Engine, name: str, timeout: float = 120.0) -> float:
    started = time.monotonic()
    probe = (
        "import urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
    )
    while time.monotonic() - started < timeout:
        if engine.ok("exec", name, "python", "-c", probe):
            return time.monotonic() - started
        if not running(engine, name):
            break
        time.sleep(1)
    logs = engine.run("logs", name, check=False, capture=True)
    raise AssertionError(f"{name} never served /_stcore/health:\n{logs.stdout + logs.stderr}")
