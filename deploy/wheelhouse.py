"""Wheels this machine already has, staged into the build context for the image build.

- torch, CPU build: PyPI's `torch` is the multi-GB CUDA build; the CPU wheel comes from
  the PyTorch index, which some machines cannot reach. Where the host's pip finds
  `torch==<version>+cpu` (here: a local `find-links` folder), it is copied in and the
  build is told not to ask the PyTorch index (TORCH_INDEX_URL empty).
- llama-cpp-python: `make install` compiles it portably (`-DGGML_NATIVE=OFF`) into
  ~/.cache/ragchat/llama-cpp-wheels/<key>/; the image build would compile the same
  thing again for 4 to 10 minutes. The version and flags are read from the Makefile,
  so the key is the one `make install` used.

Wheels only for the image's platform (CPython 3.11, Linux x86-64, Debian 12's glibc):
the host's are, on this machine kind. Nothing here is committed (.gitignore).
"""

from __future__ import annotations

import hashlib
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = Path(__file__).with_name("wheelhouse")
TORCH = "torch==2.13.0+cpu"  # the Dockerfile's TORCH_REQUIREMENT default must match
LLAMA_CACHE = Path.home() / ".cache" / "ragchat" / "llama-cpp-wheels"


@dataclass(frozen=True)
class Staged:
    torch: bool
    llama_cpp: bool
    llama_cpp_version: str

    def build_args(self) -> list[str]:
        args = ["--build-arg", f"LLAMA_CPP_VERSION={self.llama_cpp_version}"]
        if self.torch:  # the wheel is here: do not wait on an index this machine lacks
            args += ["--build-arg", "TORCH_INDEX_URL="]
        return args


def makefile_setting(name: str, makefile: Path = REPO / "Makefile") -> str:
    match = re.search(rf"^{name}\s*:=\s*(.*)$", makefile.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{name} is not set in {makefile}")
    return match.group(1).strip()


def llama_wheel_dir() -> tuple[str, Path]:
    """`make install`'s portable wheel folder: sha256 of "VERSION FLAGS\\n" (its `echo |
    sha256sum`). The image is portable: it may run on any x86-64 host."""
    version = makefile_setting("LLAMA_CPP_VERSION")
    # The flags come from the file the Makefile runs; it imports only the standard library.
    flags = subprocess.run(
        [sys.executable, str(REPO / "chains" / "llm" / "cpu_flags.py"), "portable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    key = hashlib.sha256(f"{version} {flags}\n".encode()).hexdigest()[:16]
    return version, LLAMA_CACHE / key


def _host_matches_image() -> bool:
    return sys.version_info[:2] == (3, 11) and platform.machine() == "x86_64"


def stage_torch() -> bool:
    if list(WHEELHOUSE.glob("torch-*+cpu-cp311-*.whl")):
        return True
    if not _host_matches_image():
        return False
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"]
        + ["--dest", str(WHEELHOUSE), TORCH],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and bool(list(WHEELHOUSE.glob("torch-*+cpu-cp311-*.whl")))


def stage_llama_cpp(version: str, folder: Path) -> bool:
    pattern = f"llama_cpp_python-{version}-*.whl"
    if not list(WHEELHOUSE.glob(pattern)):
        for wheel in sorted(folder.glob(pattern)) if _host_matches_image() else []:
            shutil.copy2(wheel, WHEELHOUSE / wheel.name)
    return bool(list(WHEELHOUSE.glob(pattern)))


def stage() -> Staged:
    WHEELHOUSE.mkdir(exist_ok=True)
    version, folder = llama_wheel_dir()
    for old in WHEELHOUSE.glob("llama_cpp_python-*.whl"):  # another version or build
        if not old.name.startswith(f"llama_cpp_python-{version}-"):
            old.unlink()
    return Staged(stage_torch(), stage_llama_cpp(version, folder), version)


if __name__ == "__main__":
    print(stage())
