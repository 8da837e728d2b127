"""`python -m deploy.image [TAG]` (`make image`): the real Dockerfile built and tagged.

The steps, each in its own module: a container engine (deploy.engine), the
`python:3.11-slim` base (deploy.base_image), wheels this machine already has staged
into the context (deploy.wheelhouse), then the build. The image test builds through
`build_image` too, so what it tests is what `make image` makes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from deploy.base_image import ensure_base
from deploy.engine import Engine, find_engine
from deploy.wheelhouse import REPO, stage

TAG = "ragchat"
UI_TAG = "ragchat-ui"


@dataclass(frozen=True)
class Built:
    tag: str
    engine: Engine
    base: str  # "present", "pulled" or "made"
    seconds: float


def _podman_flags(engine: Engine) -> list[str]:
    """The base is local (never pulled); Docker's image format keeps HEALTHCHECK (OCI drops it)."""
    return ["--pull=never", "--format", "docker"] if engine.name == "podman" else []


def build_image(tag: str = TAG, *, engine: Engine | None = None, log=print) -> Built:
    started = time.perf_counter()
    engine = engine or find_engine()
    base = ensure_base(engine, log=log)
    staged = stage()
    log(f"{engine.name}: base {base}; staged wheels: {staged}")
    engine.run(
        "build",
        *_podman_flags(engine),
        *staged.build_args(),
        "--tag",
        tag,
        "--file",
        str(REPO / "Dockerfile"),
        str(REPO),
    )
    built = Built(tag, engine, base, time.perf_counter() - started)
    log(f"built {tag} in {built.seconds:.0f} s")
    return built


def build_frontend_image(tag: str = UI_TAG, *, engine: Engine | None = None, log=print) -> Built:
    """frontend/Dockerfile: the Streamlit app alone, for the UI Space (no model, no torch)."""
    started = time.perf_counter()
    engine = engine or find_engine()
    base = ensure_base(engine, log=log)
    dockerfile = REPO / "frontend" / "Dockerfile"
    engine.run("build", *_podman_flags(engine), "--tag", tag, "--file", str(dockerfile), str(REPO))
    return Built(tag, engine, base, time.perf_counter() - started)


if __name__ == "__main__":
    # `python -m deploy.image [TAG]`; `python -m deploy.image --frontend [TAG]` (make image-ui)
    args = sys.argv[1:]
    if args[:1] == ["--frontend"]:
        build_frontend_image(*args[1:2])
    else:
        build_image(*args[:1])
