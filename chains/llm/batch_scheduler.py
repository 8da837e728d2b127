"""Several answers generated at once on one llama.cpp context: one batch per step.

While generation is bound by reading the weights, one step holding a token of each of
N answers costs little more than a step of one (`bench/batched_decode.py` measured 1.37×
the total tokens/s with four). So up to `parallel` answers run together, each in its own
sequence of one context; the questions beyond them wait in the same fair order as the
one-at-a-time queue (`fair_order`) and hear their place (`queue.Place`).

Each step is one `llama_decode` call: the next token of every answer being generated,
plus up to `prefill_chunk` prompt tokens of the answers that are still reading their
prompt, oldest first. Reading prompts first is what lets the k-th person in line see a
first token after about k prompt readings instead of k − 1 whole answers; cutting the
reading into chunks keeps the running answers moving (a chunk's step holds them for its
time) and bounds how long a cancel waits. A prompt starts from the longest prefix any
sequence holds (`sequence_pool`): the system turn, a session's previous turn.

Written by hand because llama-cpp-python's `Llama` runs one sequence per context and
its server, which can hold several, runs one request at a time per model; nothing on
the registries schedules llama.cpp sequences from Python.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from chains.llm.answer_text import AnswerText
from chains.llm.batch_step import (
    Answer,
    BatchEngine,
    Entry,
    Generation,
    fair_order,
    next_batch,
)
from chains.llm.errors import LLMContextFull, LLMTimeout
from chains.llm.fair_order import Ticket
from chains.llm.queue import WAIT_LISTENERS, WAITING, FairQueue, Place
from chains.llm.sequence_pool import Placement, SequencePool

log = logging.getLogger("ragchat.llm")


class BatchScheduler(FairQueue[Generation]):
    """Runs up to `parallel` generations together on one engine, fairly queued."""

    def __init__(
        self,
        engine: BatchEngine,
        parallel: int,
        sequences: int,
        prefill_chunk: int,
        kept_bytes: int,
        lookup_listeners: Sequence[Callable[[str], None]] = (),
        size_listeners: Sequence[Callable[[int], None]] = (),
        recent: int = 20,
    ) -> None:
        if not 1 <= parallel <= sequences:
            raise ValueError("parallel must be between 1 and the number of sequences")
        super().__init__("llama", recent)
        self._engine = engine
        self.parallel = parallel
        self._prefill_chunk = max(1, prefill_chunk)
        self._kept_cells = kept_bytes // max(1, engine.bytes_per_token)
        self._pool = SequencePool(sequences, shares_cells=engine.unified)
        self._running: list[Answer] = []
        self._first_tokens: Counter[str] = Counter()
        """Answers started per asker while they have questions in: the reading order."""
        self._lookups = lookup_listeners
        self._sizes = size_listeners

    # -- called from any thread -------------------------------------------------------

    def submit(self, key: str, generation: Generation) -> Ticket:
        """Queue a generation for `key` (who asks); it starts when a sequence is free."""
        return self._enqueue(key, generation)

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing waits and nothing runs; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._running and not len(self._order), timeout
            )

    def shutdown(self) -> None:
        """Refuse new work, drop the waiting questions and stop the running answers."""
        with self._changed:
            self._closed = True
            dropped = self._drop_waiting()
            for running in self._running:
                running.generation.cancelled.set()
            self._changed.notify_all()
            thread = self._thread
        if dropped:
            WAITING.change(-dropped)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        close = getattr(self._engine, "close", None)
        if close is not None and (thread is None or not thread.is_alive()):
            close()  # nothing decodes any more: the context can go before the model

    # -- places ----------------------------------------------------------------------

    def _place(self, ticket: Ticket) -> Place:
        """Who goes first (the waiting ahead and the answers running) and, from recent
        answer times, about when a sequence frees up for this one."""
        ahead = self._order.ahead_of(ticket)
        median = self._median_duration()
        estimate = None if median is None else (ahead + 1) * median / self.parallel
        return Place(ahead + len(self._running), estimate)

    def _announce(self) -> None:
        """Tell each waiting question its place, if it changed and it must wait."""
        told: list[tuple[Callable[[Place], None], Place]] = []
        with self._changed:
            if len(self._running) < self.parallel:
                return  # the next one starts now
            for ticket in self._order.waiting():
                generation = self._waiting[ticket]
                place = self._place(ticket)
                if generation.on_place is not None and place != generation.place:
                    generation.place = place
                    told.append((generation.on_place, place))
        for on_place, place in told:
            on_place(place)

    # -- the scheduler thread --------------------------------------------------------

    def _serve(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(self._has_work)
                if self._closed and not self._running:
                    return
                admitted = self._admit()
            for running, placement in admitted:
                self._start(running, placement)
            if admitted:
                self._announce()
            self._end_cancelled()
            if self._running:
                self._step()

    def _has_work(self) -> bool:
        return bool(self._running) or self._closed or len(self._order) > 0

    def _admit(self) -> list[tuple[Answer, Placement]]:
        """Move waiting questions into free sequences, in fair order (lock held)."""
        admitted = []
        while len(self._running) < self.parallel and self._pool.free and len(self._order):
            ticket = self._order.pop()
            assert ticket is not None
            generation = self._waiting.pop(ticket)
            placement = self._pool.place(generation.prompt)
            running = Answer(
                generation,
                placement.seq,
                pending=list(generation.prompt[placement.reused :]),
                pos=placement.reused,
                text=AnswerText(generation.stops),
                key=ticket.key,
                arrival=ticket.order,
            )
            self._running.append(running)
            admitted.append((running, placement))
        return admitted

    def _start(self, running: Answer, placement: Placement) -> None:
        self._engine.place(placement)
        for listener in self._lookups:
            listener(placement.lookup)
        WAITING.change(-1)
        waited = time.monotonic() - running.generation.entered
        for listener in WAIT_LISTENERS:
            listener(waited)

    def _end_cancelled(self) -> None:
        now = time.monotonic()
        for running in list(self._running):
            if running.generation.cancelled.is_set():
                self._end(running, None, timed=False)
            elif running.deadline_passed(now):
                seconds = running.generation.timeout_seconds
                error = LLMTimeout(f"the local model did not finish within {seconds:g} s")
                self._end(running, error, timed=False)

    def _step(self) -> None:
        entries, readers = next_batch(
            fair_order(self._running, self._first_tokens),
            self._prefill_chunk,
            self._engine.batch_tokens,
        )
        if not entries:
            return
        try:
            fits = self._engine.decode(entries)
        except Exception as exc:  # noqa: BLE001 - every answer in the batch hears it
            log.exception("llama_decode failed")
            for running in list(self._running):
                self._engine.clear(running.seq)  # what the failed step left is unknown
                self._pool.clear(running.seq)
                self._end(running, exc, timed=False)
            return
        if not fits:
            self._make_room()
            return
        self._advance(entries)
        for index, running in readers.items():
            if running in self._running:
                self._read(running, self._engine.sample(running.generation.sampler, index))

    def _advance(self, entries: Sequence[Entry]) -> None:
        """Account for what the step evaluated."""
        by_seq: dict[int, list[int]] = {}
        for entry in entries:
            by_seq.setdefault(entry.seq, []).append(entry.token)
        for running in self._running:
            evaluated = by_seq.get(running.seq)
            if not evaluated:
                continue
            self._pool.extend(running.seq, evaluated)
            running.pos += len(evaluated)
            if running.last is not None:
                running.last = None
            else:
                del running.pending[: len(evaluated)]

    def _read(self, running: Answer, token: int) -> None:
        """A new token of `running`: show its text, or end the answer."""
        generation = running.generation
        running.produced += 1
        if running.produced == 1:
            self._first_tokens[running.key] += 1
        if self._engine.is_end(token):
            self._end(running, None, timed=True)
            return
        shown = running.text.feed(self._engine.piece(token))
        if shown and not generation.cancelled.is_set():
            generation.on_text(shown)
        if running.text.stopped or running.produced >= generation.max_tokens:
            if not running.text.stopped:
                generation.finish_reason = "length"
            self._end(running, None, timed=True)
        else:
            running.last = token

    def _make_room(self) -> None:
        """The KV cache is full: drop a kept sequence or, when none is left, stop the
        answer that started last."""
        seq = self._pool.oldest_kept()
        if seq is not None:
            self._engine.clear(seq)
            self._pool.clear(seq)
            self._report_size()
            return
        newest = self._running[-1]
        full = LLMContextFull("local: the model's context is full; try again shortly")
        self._end(newest, full, timed=False)

    def _end(self, running: Answer, error: BaseException | None, timed: bool) -> None:
        generation = running.generation
        with self._changed:
            self._running.remove(running)
            self._pool.release(running.seq)
            if not any(a.key == running.key for a in self._running) and not any(
                t.key == running.key for t in self._order.waiting()
            ):
                self._first_tokens.pop(running.key, None)  # idle again: starts afresh
            if timed and error is None and running.produced > 1:
                self._durations.append(time.monotonic() - running.started)
            for seq in self._pool.drop_until(self._kept_cells):
                self._engine.clear(seq)
            self._changed.notify_all()
        if error is None and not generation.cancelled.is_set():
            rest = running.text.close()
            if rest:
                generation.on_text(rest)
        try:
            generation.on_end(error)
        except Exception:  # a listener's bug must not stop the other answers
            log.exception("an answer's end could not be relayed")
        self._report_size()
        self._announce()

    def _report_size(self) -> None:
        size = self._pool.kept_cells() * self._engine.bytes_per_token
        for listener in self._sizes:
            listener(size)
