"""Versioned, crash-safe files for the local index.

Layout under the index dir::

    manifest.json          {"format": 1, "version": NAME, "count": N, "dim": D,
                            "tokenizer": T, "embedder": MODEL NAME}
    versions/NAME/...      one complete, immutable index version
    .lock                  held by writers (flock) for their read-modify-write

A writer fills a hidden temp folder, fsyncs it, renames it into `versions/`, then replaces
`manifest.json` with `os.replace`. Readers only ever follow the manifest, so they see the
old version or the new one, never a half-written one. The previous version is kept so a
reader that read the old manifest an instant before the flip can still load it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
MANIFEST = "manifest.json"
VERSIONS = "versions"
KEEP_VERSIONS = 2


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def write_lock(root: Path) -> Iterator[None]:
    """Serialise writers across threads and processes (advisory flock on `.lock`)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def manifest_signature(root: Path) -> tuple[int, int, int] | None:
    """A cheap stat that changes whenever the manifest is replaced."""
    return file_signature(root / MANIFEST)


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """A cheap stat that changes whenever a file is replaced (os.replace); None if absent."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The current manifest, None if there is no index; ValueError if it is unreadable."""
    try:
        text = (root / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    manifest = json.loads(text)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"unsupported manifest {text[:200]!r}")
    return manifest


def version_dir(root: Path, manifest: dict[str, Any]) -> Path:
    return root / VERSIONS / str(manifest["version"])


def write_version(
    root: Path,
    arrays: dict[str, np.ndarray],
    files: dict[str, bytes],
    info: dict[str, Any],
) -> dict[str, Any]:
    """Write a complete version and flip the manifest to it; call under `write_lock`."""
    versions = root / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):  # left by a writer that crashed; we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    for file_name, array in arrays.items():
        _write_array(tmp / f"{file_name}.npy", array)
    for file_name, data in files.items():
        _write_file(tmp / file_name, data)
    _fsync_dir(tmp)
    os.rename(tmp, versions / name)
    _fsync_dir(versions)

    manifest = {"format": FORMAT, "version": name, **info}
    staged = root / f"{MANIFEST}.tmp"
    _write_file(staged, json.dumps(manifest, indent=1).encode())
    os.replace(staged, root / MANIFEST)
    _fsync_dir(root)
    _prune(versions, keep={name})
    return manifest


def _prune(versions: Path, keep: set[str]) -> None:
    names = sorted(p.name for p in versions.iterdir() if p.is_dir())
    for old in names[:-KEEP_VERSIONS]:
        if old not in keep:
            shutil.rmtree(versions / old, ignore_errors=True)


def load_array(folder: Path, name: str) -> np.ndarray:
    return np.load(folder / f"{name}.npy", allow_pickle=False)
