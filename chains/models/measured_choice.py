"""Fast paths chosen by measuring on this machine, remembered per CPU.

CPUs of one machine kind differ (AMX on one, AVX-512 without AMX on the next, AVX2 only
on a third), and which runtime is fastest follows the silicon, not the flags a kernel
reports. So a choice between equivalent runtimes is timed once, on this machine, and kept
in a small JSON file with the CPU's model name; another CPU measures again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("ragchat.measured")


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """`model name` from /proc/cpuinfo (what `grep -m1 "model name"` prints), else the arch."""
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One measurement at a time across processes (they would slow each other down)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and saved.get("key") == key else None


def fastest(
    path: Path,
    key: dict[str, Any],
    candidates: dict[str, Callable[[], float]],
    *,
    accept: Callable[[str], bool] = lambda name: True,
) -> tuple[str, dict[str, float]]:
    """The candidate whose timing function returns the least seconds, and every timing.

    A choice saved in `path` under the same `key` (with this CPU's model name added) is
    reused without measuring. `accept` can veto a candidate after it was timed (a result
    that disagrees with the reference). The first candidate is the fallback.
    """
    key = {**key, "cpu": cpu_model_name()}
    with _locked(path):
        saved = _read(path, key)
        if saved is not None and saved.get("choice") in candidates:
            return str(saved["choice"]), dict(saved.get("seconds", {}))
        seconds: dict[str, float] = {}
        for name, measure in candidates.items():
            try:
                seconds[name] = float(measure())
            except Exception as exc:  # noqa: BLE001 - a candidate that fails is not chosen
                log.warning("measuring %s failed: %s", name, exc)
        usable = {name: s for name, s in seconds.items() if accept(name)}
        choice = min(usable, key=usable.__getitem__) if usable else next(iter(candidates))
        record = {"key": key, "choice": choice, "seconds": seconds}
        staged = path.with_suffix(".tmp")
        staged.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(staged, path)
    log.info(
        "measured on %s: %s; chose %s",
        key["cpu"],
        ", ".join(f"{n} {s:.3f} s" for n, s in seconds.items()),
        choice,
    )
    return choice, seconds
