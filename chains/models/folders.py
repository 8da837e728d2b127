"""A folder under MODELS_DIR built once, by one process, and published whole.

Built models (the int8 ONNX export, a packaged model joined from its parts) are large
and slow to make; processes that start together (server, ingest, replicas) wait on one
lock, and readers never see a half-written folder because it appears by rename.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def build_once(target: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """`target`, made by `build(tmp)` unless `target/marker` exists already."""
    if (target / marker).exists():
        return target
    models_dir = target.parent
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / ".build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / marker).exists():  # another process built it while we waited
            return target
        tmp = models_dir / f".tmp-{target.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            build(tmp)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
