"""Who generates next: round-robin across askers, first come first served within one.

Each waiting question gets a round: one past its asker's previous question, and never
below the round being served now. The lowest round goes first, arrival order breaking
ties. So a user's second question waits behind every other user's first, and someone
who was idle joins the current round rather than saving up turns for later
(start-time fair queuing with equal weights). Not thread-safe: `ModelQueue` holds a lock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(eq=False)
class Ticket:
    """One question waiting for the model, or being answered."""

    key: str
    """Who asks: `user:<name>`, or `client:<address>` for anonymous callers."""
    round: int = 0
    order: int = 0
    waiting: bool = field(default=True, compare=False)

    @property
    def rank(self) -> tuple[int, int]:
        return (self.round, self.order)


class FairOrder:
    """The waiting tickets and the order they will be served in."""

    def __init__(self) -> None:
        self._waiting: list[Ticket] = []
        self._next_round: dict[str, int] = {}
        self._serving_round = 0
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return len(self._waiting)

    def push(self, key: str) -> Ticket:
        round_ = max(self._next_round.get(key, 0), self._serving_round)
        self._next_round[key] = round_ + 1
        ticket = Ticket(key, round_, next(self._arrivals))
        self._waiting.append(ticket)
        return ticket

    def pop(self) -> Ticket | None:
        """The next ticket to serve, removed from the waiting ones; None when none wait."""
        if not self._waiting:
            return None
        ticket = min(self._waiting, key=lambda t: t.rank)
        self._waiting.remove(ticket)
        ticket.waiting = False
        self._serving_round = ticket.round
        self._forget_idle()
        return ticket

    def remove(self, ticket: Ticket) -> bool:
        """Take a waiting ticket out (its asker left); False if it was not waiting."""
        if not ticket.waiting:
            return False
        self._waiting.remove(ticket)
        ticket.waiting = False
        # A withdrawn question does not push the asker's next one back a round.
        rounds = [t.round for t in self._waiting if t.key == ticket.key]
        following = max(rounds) + 1 if rounds else ticket.round
        self._next_round[ticket.key] = min(self._next_round[ticket.key], following)
        self._forget_idle()
        return True

    def ahead_of(self, ticket: Ticket) -> int:
        """How many waiting tickets will be served before this one (0: it is next)."""
        return sum(1 for t in self._waiting if t.rank < ticket.rank)

    def waiting(self) -> list[Ticket]:
        """The waiting tickets in the order they will be served."""
        return sorted(self._waiting, key=lambda t: t.rank)

    def _forget_idle(self) -> None:
        """Drop askers whose next round is already behind: they would join it anyway."""
        stale = [k for k, r in self._next_round.items() if r <= self._serving_round]
        for key in stale:
            if not any(t.key == key for t in self._waiting):
                del self._next_round[key]
