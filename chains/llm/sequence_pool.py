"""Which llama.cpp sequence holds which tokens, and where a new prompt should start from.

The batched context has a fixed number of sequence ids sharing one KV cache. An answer
runs in one of them; when it ends its sequence is not cleared but kept, so a later
prompt sharing a prefix with it (the same prompt shape's system turn, the same session's
next turn) copies those cells (`llama_memory_seq_cp`) and evaluates only what follows. Kept
sequences are dropped least recently used first, when their cells pass the byte budget
or when the cache is full. Pure bookkeeping: the scheduler performs the moves it returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens two sequences share from the start."""
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def distinct_cells(sequences: Iterable[Sequence[int]]) -> int:
    """Cells that sequences sharing prefixes occupy: the nodes of their prefix tree
    (sorted, each adds its length minus what it shares with the one before)."""
    ordered = sorted(tuple(s) for s in sequences)
    total = 0
    for before, current in zip([(), *ordered], ordered, strict=False):
        total += len(current) - shared_prefix(before, current)
    return total


@dataclass(frozen=True)
class Placement:
    """Where a new prompt runs and what it reuses."""

    seq: int
    """The sequence the answer runs in."""
    source: int | None
    """The sequence whose first `reused` tokens it starts from (None: nothing reused)."""
    reused: int

    @property
    def lookup(self) -> str:
        """What the prefix lookup found, as `/metrics` counts it."""
        if self.source is None:
            return "miss"
        return "in_context" if self.source == self.seq else "restored"


@dataclass
class _Held:
    tokens: list[int] = field(default_factory=list)
    busy: bool = False
    used: int = 0


class SequencePool:
    """The sequence ids of one context: busy ones run answers, idle ones keep states."""

    def __init__(self, sequences: int, shares_cells: bool = False) -> None:
        """`shares_cells`: one unified KV cache, where a copied prefix is not stored twice;
        else each sequence has its own cells."""
        if sequences < 1:
            raise ValueError("a context needs at least one sequence")
        self._held = [_Held() for _ in range(sequences)]
        self._shares_cells = shares_cells
        self._clock = itertools.count(1)

    @property
    def busy(self) -> int:
        return sum(h.busy for h in self._held)

    @property
    def free(self) -> bool:
        """Whether a new answer can start."""
        return any(not h.busy for h in self._held)

    def tokens(self, seq: int) -> list[int]:
        return self._held[seq].tokens

    def place(self, prompt: Sequence[int]) -> Placement:
        """Claim a sequence for `prompt`, starting from the longest prefix any sequence
        holds (never the whole prompt: its last token must be evaluated for logits)."""
        limit = len(prompt) - 1
        source, reused = None, 0
        for seq, held in enumerate(self._held):
            shared = min(shared_prefix(held.tokens, prompt), limit)
            if shared > reused:
                source, reused = seq, shared
        idle = [s for s, h in enumerate(self._held) if not h.busy]
        if not idle:
            raise RuntimeError("no free sequence: check `free` before placing")
        empty = [s for s in idle if not self._held[s].tokens]
        others = [s for s in idle if s != source]
        if empty:
            target = empty[0]
        elif others:  # keep the source: others may start from it too
            target = min(others, key=lambda s: self._held[s].used)
        else:
            target = idle[0]
        held = self._held[target]
        held.tokens = list(prompt[:reused]) if source is not None else []
        held.busy, held.used = True, next(self._clock)
        return Placement(target, source, reused)

    def extend(self, seq: int, tokens: Sequence[int]) -> None:
        """Tokens evaluated into `seq`."""
        self._held[seq].tokens.extend(tokens)

    def release(self, seq: int) -> None:
        """The answer in `seq` ended; its tokens are kept for later prompts."""
        held = self._held[seq]
        held.busy, held.used = False, next(self._clock)

    def clear(self, seq: int) -> None:
        """Forget `seq`'s tokens (its cells were removed)."""
        self._held[seq].tokens = []

    def kept_cells(self) -> int:
        """Cells only idle sequences hold: what dropping all of them would free."""
        if not self._shares_cells:
            return sum(len(h.tokens) for h in self._held if not h.busy)
        everything = distinct_cells(h.tokens for h in self._held if h.tokens)
        running = distinct_cells(h.tokens for h in self._held if h.busy and h.tokens)
        return everything - running

    def oldest_kept(self) -> int | None:
        """The idle sequence holding tokens that was used longest ago."""
        kept = [s for s, h in enumerate(self._held) if not h.busy and h.tokens]
        return min(kept, key=lambda s: self._held[s].used) if kept else None

    def drop_until(self, cell_budget: int) -> list[int]:
        """Clear kept sequences, oldest first, until they hold at most `cell_budget` cells."""
        dropped = []
        while self.kept_cells() > cell_budget and (seq := self.oldest_kept()) is not None:
            self.clear(seq)
            dropped.append(seq)
        return dropped
