"""What one step of the batched scheduler is made of, and how a step is chosen.

Kept apart from `batch_scheduler` (threads, queue, places) so that the choice of a step
is a pure function a unit test can check entry by entry.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chains.llm.answer_text import AnswerText
from chains.llm.queue import Place
from chains.llm.sequence_pool import Placement


@dataclass(frozen=True)
class Entry:
    """One token of a batch: where it goes and whether its logits are read."""

    token: int
    pos: int
    seq: int
    logits: bool


class BatchEngine(Protocol):
    """What the scheduler needs of a llama.cpp context (`batch_engine.LlamaBatchEngine`)."""

    batch_tokens: int
    bytes_per_token: int
    unified: bool
    """One KV cache for all sequences (a copied prefix is stored once)."""

    def place(self, placement: Placement) -> None:
        """Make the placement's sequence hold the first `reused` tokens of its source."""

    def clear(self, seq: int) -> None:
        """Remove every cell of `seq`."""

    def decode(self, entries: Sequence[Entry]) -> bool:
        """Evaluate one batch; False when the KV cache has no room for it."""

    def sample(self, sampler: Any, index: int) -> int:
        """The next token from the logits of batch entry `index`."""

    def piece(self, token: int) -> bytes:
        """A generated token's text."""

    def is_end(self, token: int) -> bool:
        """Whether the token ends a turn."""


@dataclass(eq=False)
class Generation:
    """One answer to generate: its prompt, how to sample and stop, where its text goes."""

    prompt: list[int]
    sampler: Any
    max_tokens: int
    on_text: Callable[[str], None]
    on_end: Callable[[BaseException | None], None]
    """Called once when the answer ends: None, or why it failed."""
    stops: Sequence[str] = ()
    cancelled: threading.Event = field(default_factory=threading.Event)
    timeout_seconds: float = 120.0
    on_place: Callable[[Place], None] | None = None
    entered: float = field(default_factory=time.monotonic)
    place: Place | None = None
    finish_reason: str = "stop"
    """Set before `on_end`: `stop` (end of turn or a stop string) or `length`."""


@dataclass(eq=False)
class Answer:
    """A generation that holds a sequence: reading its prompt, then generating."""

    generation: Generation
    seq: int
    pending: list[int]
    """Prompt tokens not read yet."""
    pos: int
    """Position of the next token this sequence evaluates."""
    text: AnswerText
    key: str = ""
    """Who asks (the fair queue's key)."""
    arrival: int = 0
    started: float = field(default_factory=time.monotonic)
    last: int | None = None
    """The token sampled last, evaluated in the next step."""
    produced: int = 0

    def deadline_passed(self, now: float) -> bool:
        return now - self.started > self.generation.timeout_seconds


def next_batch(
    answers: Sequence[Answer], prefill_chunk: int, batch_tokens: int
) -> tuple[list[Entry], dict[int, Answer]]:
    """One step: the next token of every answer generating, then up to `prefill_chunk`
    prompt tokens of those still reading, oldest first (a whole batch of them when no
    answer is being written); and which answer reads the logits of which entry."""
    entries: list[Entry] = []
    readers: dict[int, Answer] = {}
    for running in answers:
        if running.last is not None:
            readers[len(entries)] = running
            entries.append(Entry(running.last, running.pos, running.seq, True))
    # Nothing being written waits on this step: read as much of the prompts as fits.
    chunk = prefill_chunk if entries else batch_tokens
    budget = min(chunk, batch_tokens - len(entries))
    for running in answers:
        if budget <= 0:
            break
        if not running.pending:
            continue
        take = running.pending[:budget]
        last = len(take) == len(running.pending)
        for i, token in enumerate(take):
            reads = last and i == len(take) - 1
            if reads:
                readers[len(entries)] = running
            entries.append(Entry(token, running.pos + i, running.seq, reads))
        budget -= len(take)
    return entries, readers


def fair_order(answers: Sequence[Answer], first_tokens: Mapping[str, int]) -> list[Answer]:
    """The answers, those reading their prompt in the queue's order: by round (the
    asker's answers already started, `first_tokens`, plus those of theirs read before),
    then arrival. Questions that find a free sequence start reading at once, so a user's
    second question may be reading when another user's first arrives: the first is read
    first."""
    reading: Counter[str] = Counter()
    ranked: list[tuple[tuple[int, int], Answer]] = []
    for answer in sorted(answers, key=lambda a: a.arrival):
        round_ = -1  # already generating: its place in the batch does not matter
        if answer.produced == 0:
            round_ = first_tokens.get(answer.key, 0) + reading[answer.key]
            reading[answer.key] += 1
        ranked.append(((round_, answer.arrival), answer))
    return [answer for _, answer in sorted(ranked, key=lambda pair: pair[0])]
