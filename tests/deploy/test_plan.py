"""What `run` and `stack` start, checked without starting anything (no model, no process)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import stack_plan as plan
from cli import build_parser


def test_frontend_is_the_streamlit_app_pointed_at_the_backend() -> None:
    child = plan.frontend("0.0.0.0", 8501, "http://127.0.0.1:8000", max_upload_mb=7)
    assert child.argv[1:4] == ["-m", "streamlit", "run"]
    assert Path(child.argv[4]) == plan.REPO / "frontend" / "app.py"
    assert Path(child.argv[4]).is_file()
    flags = dict(zip(child.argv[5::2], child.argv[6::2], strict=True))
    assert flags == {
        "--server.address": "0.0.0.0",
        "--server.port": "8501",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
        "--client.toolbarMode": "viewer",
        "--server.maxUploadSize": "7",  # the picker refuses what the backend would
    }
    assert child.env == {"BACKEND_URL": "http://127.0.0.1:8000"}
    # Bound to every interface, it is still reached (and health-checked) on loopback.
    assert child.health_url == "http://127.0.0.1:8501/_stcore/health"


def test_backend_is_ragchat_serve_with_its_health_route() -> None:
    child = plan.backend("127.0.0.1", 8123, {"LLM_PROVIDER": "endpoint"})
    assert child.argv[1:] == ["-m", "cli", "serve", "--host", "127.0.0.1", "--port", "8123"]
    assert child.health_url == "http://127.0.0.1:8123/health"
    assert child.env == {"LLM_PROVIDER": "endpoint"}


def test_the_stack_backend_calls_the_llm_server_with_hub_offline_mode_off_and_its_model() -> None:
    llm = plan.llm_server(Path("/models/m.gguf"), 9000, 4096, threads=2)
    assert llm.argv[1:3] == ["-m", "llama_cpp.server"]
    assert llm.argv[llm.argv.index("--host") + 1] == "127.0.0.1"
    assert llm.argv[llm.argv.index("--n_threads") + 1] == "2"
    assert llm.health_url == "http://127.0.0.1:9000/v1/models"
    assert plan.endpoint_env(llm.url, "qwen2.5-coder-1.5b") == {
        "LLM_PROVIDER": "endpoint",
        "LLM_ENDPOINT_URL": "http://127.0.0.1:9000",
        # The backend prompts the server's model with that model's preset.
        "LLM_MODEL": "qwen2.5-coder-1.5b",
        "HF_HUB_OFFLINE": "0",
    }


def test_samples_are_seeded_only_into_an_empty_index(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    index = tmp_path / "data" / "index"
    assert plan.seed_samples_command(index, samples) is None  # no samples folder
    samples.mkdir()
    command = plan.seed_samples_command(index, samples)
    assert command is not None and command[1:] == ["-m", "stack_plan", "seed", "samples"]
    index.mkdir(parents=True)
    assert plan.seed_samples_command(index, samples) is not None  # empty folder: still empty
    (index / "manifest.json").write_text("{}")
    assert plan.seed_samples_command(index, samples) is None


@pytest.mark.parametrize(
    ("host", "expected"), [("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")]
)
def test_client_host(host: str, expected: str) -> None:
    assert plan.client_host(host) == expected


def test_cli_parses_the_deployment_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["stack", "--port", "1", "--frontend-port", "2", "--llm-port", "3", "--no-samples"]
    )
    assert (args.port, args.frontend_port, args.llm_port, args.no_samples) == (1, 2, 3, True)
    assert parser.parse_args(["run"]).no_samples is False
    assert parser.parse_args(["stop"]).handler.__name__ == "_stop"
    assert parser.parse_args(["frontend", "--backend-url", "http://x"]).backend_url == "http://x"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--llm-port", "3"])  # only the three-part stack has an LLM


def test_the_console_script_can_import_the_supervisor() -> None:
    """`.venv/bin/ragchat run` imports these modules: the package must ship them."""
    config = tomllib.loads((plan.REPO / "pyproject.toml").read_text())
    assert {"stack", "stack_plan"} <= set(config["tool"]["setuptools"]["py-modules"])
