"""The container engine: a Docker whose daemon answers, else podman (installed if missing).

Only the Docker client is on some machines (`docker --version` answers, `docker build`
cannot); podman needs no daemon, so it is the fallback. On podman, CONTAINERS_CONF names
deploy/containers.conf: runc instead of crun, whose cgroup setup fails on hosts with
hybrid cgroups, and ulimits a container here may have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
PODMAN_PACKAGES = ("podman", "mmdebstrap", "runc")


class EngineMissing(RuntimeError):
    """Neither a working Docker nor podman, and podman cannot be installed here."""


@dataclass(frozen=True)
class Engine:
    """One container CLI and the environment it runs with."""

    command: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.command).name

    def run(
        self, *args: str, check: bool = True, capture: bool = False, timeout: float | None = None
    ):
        return subprocess.run(
            [self.command, *args],
            env={**os.environ, **self.env},
            check=check,
            text=True,
            capture_output=capture,
            timeout=timeout,
        )

    def output(self, *args: str, timeout: float | None = 120) -> str:
        return self.run(*args, capture=True, timeout=timeout).stdout.strip()

    def ok(self, *args: str, timeout: float | None = 120) -> bool:
        result = self.run(*args, check=False, capture=True, timeout=timeout)
        return result.returncode == 0


def _docker_daemon() -> Engine | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        works = subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        works = False
    return Engine(docker) if works else None


def install_podman() -> None:
    """Debian's podman, with mmdebstrap (a base image from packages) and runc."""
    if shutil.which("apt-get") is None:
        raise EngineMissing("no working docker or podman, and no apt-get to install podman")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *PODMAN_PACKAGES],
        check=True,
        env=env,
    )


def find_engine(install: bool = True) -> Engine:
    """Docker if its daemon answers; else podman, installed first where `install` allows."""
    docker = _docker_daemon()
    if docker is not None:
        return docker
    missing = [p for p in ("podman", "runc") if shutil.which(p) is None]
    if missing:
        if not install:
            raise EngineMissing(f"missing {', '.join(missing)}: run `make image` once")
        install_podman()
    return Engine(shutil.which("podman") or "podman", {"CONTAINERS_CONF": str(CONTAINERS_CONF)})
