"""The embedded model's queue: one worker thread, questions served in fair order.

A llama.cpp context is not re-entrant, so every generation runs on one thread. The
questions waiting for it are served round-robin across askers (`fair_order`); each
waiting one hears its place as it changes, and leaves the queue the moment its asker
withdraws it. Listeners (metrics) hear the depth and each wait. Kept apart from
`llama_local` so that listening does not import llama.cpp.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from chains.llm.fair_order import FairOrder, Ticket

log = logging.getLogger("ragchat.llm")

QUEUE_EVENT = "ragchat_queue"
"""The custom event a waiting answer reports its place with (data: `Place.as_event()`)."""
QUEUE_KEY = "ragchat_queue_key"
"""The run metadata key naming who asks (`user:<name>`, `client:<address>`)."""


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
WAIT_LISTENERS: list[Callable[[float], None]] = []
"""Called with the seconds a question waited, when its generation starts."""


@dataclass(frozen=True)
class Place:
    """Where a waiting question stands."""

    ahead: int
    """Questions that go first, the one being answered included."""
    estimate_seconds: float | None
    """`ahead` × the median of recent answer times; None before any answer was timed."""

    def as_event(self) -> dict[str, object]:
        seconds = None if self.estimate_seconds is None else round(self.estimate_seconds, 1)
        return {"ahead": self.ahead, "estimate_seconds": seconds}


J = TypeVar("J")


@dataclass(eq=False)
class _Job:
    run: Callable[[], bool]
    """Generates; returns whether its duration says how long an answer takes."""
    on_place: Callable[[Place], None] | None
    entered: float = field(default_factory=time.monotonic)
    place: Place | None = None


class FairQueue(Generic[J]):
    """Questions waiting for the model in fair order, with their places; a worker thread
    started at the first question serves them (`_serve`, by the subclass)."""

    def __init__(self, name: str = "llama", recent: int = 20) -> None:
        self._name = name
        self._order = FairOrder()
        self._waiting: dict[Ticket, J] = {}
        self._durations: deque[float] = deque(maxlen=recent)
        """Recent answer times: the estimates."""
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def _enqueue(self, key: str, job: J) -> Ticket:
        with self._changed:
            if self._closed:
                raise RuntimeError("the model queue is shut down")
            ticket = self._order.push(key)
            self._waiting[ticket] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify_all()
        WAITING.change(+1)
        self._announce()
        return ticket

    def withdraw(self, ticket: Ticket) -> bool:
        """Take a waiting question out now; False if it already started (or ended)."""
        with self._changed:
            removed = self._order.remove(ticket)
            if removed:
                del self._waiting[ticket]
                self._changed.notify_all()
        if removed:
            WAITING.change(-1)
            self._announce()
        return removed

    def place(self, ticket: Ticket) -> Place | None:
        """The ticket's place now; None once it has started."""
        with self._changed:
            return self._place(ticket) if ticket.waiting else None

    def _drop_waiting(self) -> int:
        """Forget every waiting question (lock held); how many there were."""
        dropped = len(self._order)
        while self._order.pop() is not None:
            pass
        self._waiting.clear()
        return dropped

    def _median_duration(self) -> float | None:
        return statistics.median(self._durations) if self._durations else None

    def _serve(self) -> None:
        raise NotImplementedError

    def _place(self, ticket: Ticket) -> Place:
        raise NotImplementedError

    def _announce(self) -> None:
        raise NotImplementedError


class ModelQueue(FairQueue[_Job]):
    """Runs jobs one at a time on a worker thread, in fair order across keys."""

    def __init__(self, name: str = "llama", recent: int = 20) -> None:
        super().__init__(name, recent)
        self._running: Ticket | None = None

    def submit(
        self, key: str, run: Callable[[], bool], on_place: Callable[[Place], None] | None = None
    ) -> Ticket:
        """Queue `run` for `key`; `on_place` hears each new place while it waits (from
        whichever thread moved it, so it must be quick and thread-safe)."""
        return self._enqueue(key, _Job(run, on_place))

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing waits and nothing runs; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._running is None and not len(self._order), timeout
            )

    def shutdown(self) -> None:
        """Refuse new jobs and drop the waiting ones; the running one finishes."""
        with self._changed:
            self._closed = True
            dropped = self._drop_waiting()
            self._changed.notify_all()
        if dropped:
            WAITING.change(-dropped)

    def _place(self, ticket: Ticket) -> Place:
        ahead = self._order.ahead_of(ticket) + (self._running is not None)
        median = self._median_duration()
        return Place(ahead, None if median is None else ahead * median)

    def _announce(self) -> None:
        """Tell each waiting job its place, if it changed (not "none ahead": it starts now)."""
        told: list[tuple[Callable[[Place], None], Place]] = []
        with self._changed:
            for ticket in self._order.waiting():
                job = self._waiting[ticket]
                place = self._place(ticket)
                if job.on_place is not None and place != job.place and place.ahead > 0:
                    job.place = place
                    told.append((job.on_place, place))
        for on_place, place in told:
            on_place(place)

    def _serve(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or len(self._order) > 0)
                if self._closed:
                    return
                ticket = self._order.pop()
                assert ticket is not None
                job = self._waiting.pop(ticket)
                self._running = ticket
            WAITING.change(-1)
            waited = time.monotonic() - job.entered
            for listener in WAIT_LISTENERS:
                listener(waited)
            self._announce()
            started = time.monotonic()
            timed = False
            try:
                timed = bool(job.run())
            except Exception:  # a job relays its own failures; this is a bug in one
                log.exception("a generation job failed")
            with self._changed:
                self._running = None
                if timed:
                    self._durations.append(time.monotonic() - started)
                self._changed.notify_all()
