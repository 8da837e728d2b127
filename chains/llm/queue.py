"""How many generations wait for the embedded model, for whoever wants to know (metrics).

Kept apart from `llama_local` so that listening does not import llama.cpp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class QueueDepth:
    """A counter whose listeners hear every change (called with the new value)."""

    def __init__(self) -> None:
        self._waiting = 0
        self._lock = threading.Lock()
        self.listeners: list[Callable[[int], None]] = []

    @property
    def waiting(self) -> int:
        return self._waiting

    def change(self, delta: int) -> None:
        with self._lock:
            self._waiting += delta
            waiting = self._waiting
        for listener in self.listeners:
            listener(waiting)


WAITING = QueueDepth()
