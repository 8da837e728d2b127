"""A GGUF shipped as raw slices in packages: joined in order, refused unless it is the
publisher's file, and a missing package named.

The fast tests join small fake slices under a fake spec; the slow one joins the real
Qwen2.5-Coder-1.5B-Instruct (1.1 GB) from the 22 installed packages.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import chains.models.packaged as packaged
from chains.models.packaged import (
    QWEN25_CODER_1_5B,
    PackagedGGUF,
    PackagedModelMissing,
    gguf_file,
    gguf_slices,
    join_slices,
)

SLICES = [b"GGUF" + b"a" * 96, b"b" * 100, b"c" * 37]  # like the real ones: the last is short


def fake_slices(tmp_path: Path, contents: list[bytes] = SLICES) -> list[Path]:
    paths = []
    for number, content in enumerate(contents, start=1):
        path = tmp_path / f"part{number:02d}.bin"
        path.write_bytes(content)
        paths.append(path)
    return paths


def spec(distributions: tuple[str, ...] = ("fake-part1", "fake-part2")) -> PackagedGGUF:
    whole = b"".join(SLICES)
    return PackagedGGUF(
        file_name="fake-model-q4_k_m.gguf",
        distributions=distributions,
        version="0.2.0",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        wanted_by="LLM_MODEL=fake",
    )


def test_slices_join_in_order_into_the_publishers_file(tmp_path: Path) -> None:
    out = tmp_path / "model.gguf"
    join_slices(fake_slices(tmp_path), out, spec())
    assert out.read_bytes() == b"".join(SLICES)


def test_a_wrong_slice_of_the_right_size_is_refused(tmp_path: Path) -> None:
    tampered = [SLICES[0], b"B" * 100, SLICES[2]]
    with pytest.raises(PackagedModelMissing, match="refusing other weights") as error:
        join_slices(fake_slices(tmp_path, tampered), tmp_path / "model.gguf", spec())
    assert spec().sha256 in str(error.value)  # says which digest it expected
    assert not (tmp_path / "model.gguf").exists()  # nothing half-right is left to load


def test_slices_out_of_order_are_refused(tmp_path: Path) -> None:
    parts = fake_slices(tmp_path)
    with pytest.raises(PackagedModelMissing, match="refusing other weights"):
        join_slices([parts[1], parts[0], parts[2]], tmp_path / "model.gguf", spec())


def test_a_truncated_slice_is_named_before_anything_is_copied(tmp_path: Path) -> None:
    parts = fake_slices(tmp_path, [SLICES[0], b"b" * 60, SLICES[2]])
    with pytest.raises(PackagedModelMissing, match="part02.bin differ from 100 bytes"):
        join_slices(parts, tmp_path / "model.gguf", spec())
    assert not (tmp_path / "model.gguf").exists()


def test_a_missing_package_is_named_with_how_to_install_it() -> None:
    missing = spec(("no-such-distribution-part1-xyz",))
    with pytest.raises(PackagedModelMissing) as error:
        gguf_slices(missing)
    message = str(error.value)
    assert "LLM_MODEL=fake" in message and "missing no-such-distribution-part1-xyz" in message
    assert "pip install no-such-distribution-part1-xyz==0.2.0" in message


def test_a_refused_join_leaves_no_model_behind_and_a_good_one_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    (tmp_path / "bad").mkdir()
    bad = fake_slices(tmp_path / "bad", [SLICES[0], b"B" * 100, SLICES[2]])
    monkeypatch.setattr(packaged, "gguf_slices", lambda model: bad)
    with pytest.raises(PackagedModelMissing):
        gguf_file(spec(), models)
    assert [p.name for p in models.iterdir() if not p.name.startswith(".build")] == []

    good_dir = tmp_path / "good"
    good_dir.mkdir()
    good = fake_slices(good_dir)
    monkeypatch.setattr(packaged, "gguf_slices", lambda model: good)
    path = gguf_file(spec(), models)
    assert path.read_bytes() == b"".join(SLICES)
    assert path.parent.name == f"fake-model-q4_k_m-{spec().sha256[:12]}"
    monkeypatch.setattr(packaged, "gguf_slices", lambda model: pytest.fail("joined twice"))
    assert gguf_file(spec(), models) == path  # joined once: the next call finds it


@pytest.mark.slow
def test_the_real_packages_join_into_qwens_file() -> None:
    # MODELS_DIR is shared by the run (tests/conftest.py): joined once for every test.
    path = gguf_file(QWEN25_CODER_1_5B, Path(os.environ["MODELS_DIR"]))
    assert path.stat().st_size == 1_117_320_768
    assert path.name == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    with path.open("rb") as joined:
        assert joined.read(4) == b"GGUF"
