"""The image scripts' decisions, without building anything (tests/deploy/test_image.py builds)."""

from __future__ import annotations

import subprocess
import tomllib

from deploy import base_image, wheelhouse
from deploy.engine import CONTAINERS_CONF
from tests.utils.processes import REPO


def test_the_llama_wheel_folder_is_the_one_make_install_fills() -> None:
    printed = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "--eval",
            "print-wheels: ; @echo $(LLAMA_PORTABLE_WHEELS)",
            "print-wheels",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    version, folder = wheelhouse.llama_wheel_dir()
    assert str(folder) == printed and version == wheelhouse.makefile_setting("LLAMA_CPP_VERSION")


def test_a_staged_torch_wheel_keeps_the_build_off_the_pytorch_index() -> None:
    staged = wheelhouse.Staged(torch=True, llama_cpp=False, llama_cpp_version="0.3.36")
    assert "TORCH_INDEX_URL=" in staged.build_args()
    assert "LLAMA_CPP_VERSION=0.3.36" in staged.build_args()
    clone = wheelhouse.Staged(torch=False, llama_cpp=False, llama_cpp_version="0.3.36")
    assert not any(arg.startswith("TORCH_INDEX_URL") for arg in clone.build_args())


def test_the_torch_pin_is_the_dockerfiles() -> None:
    assert f'"{wheelhouse.TORCH}"' in (REPO / "Dockerfile").read_text()


def test_the_made_base_is_remade_when_its_package_list_changes(monkeypatch) -> None:
    key = base_image.package_key()
    assert key == base_image.package_key()
    monkeypatch.setattr(base_image, "PACKAGES", (*base_image.PACKAGES, "curl"))
    assert base_image.package_key() != key


def test_podman_runs_on_runc_with_limits_this_host_allows() -> None:
    conf = tomllib.loads(CONTAINERS_CONF.read_text())
    assert conf["engine"]["runtime"] == "runc"
    assert conf["containers"]["default_ulimits"]
