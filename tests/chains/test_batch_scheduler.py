"""The batched scheduler's logic on a fake engine (no model): order, steps, ends, cancel.

`FakeEngine` records each batch and answers from a script per sequence, so what is
checked is the scheduling, not llama.cpp (the real engine is tested with the model in
`tests/integration/test_batched_model.py`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from chains.llm.batch_scheduler import BatchScheduler
from chains.llm.batch_step import Entry, Generation
from chains.llm.errors import LLMContextFull
from chains.llm.queue import Place
from chains.llm.sequence_pool import Placement

END = 0


class FakeEngine:
    """Stands in for llama.cpp: token n reads as "w<n> ", 0 ends a turn."""

    batch_tokens = 512
    bytes_per_token = 10
    unified = False

    def __init__(self, step_seconds: float = 0.0, full_after: int | None = None) -> None:
        self.batches: list[list[Entry]] = []
        self.placements: list[Placement] = []
        self.cleared: list[int] = []
        self.step_seconds = step_seconds
        self.full_after = full_after
        self.gate = threading.Event()
        self.gate.set()

    def place(self, placement: Placement) -> None:
        self.placements.append(placement)

    def clear(self, seq: int) -> None:
        self.cleared.append(seq)

    def decode(self, entries: Sequence[Entry]) -> bool:
        self.gate.wait(5)
        time.sleep(self.step_seconds)
        if self.full_after is not None and len(self.batches) >= self.full_after:
            self.full_after = None
            return False
        self.batches.append(list(entries))
        return True

    def sample(self, sampler: Iterator[int], index: int) -> int:
        return next(sampler)

    def piece(self, token: int) -> bytes:
        return f"w{token} ".encode()

    def is_end(self, token: int) -> bool:
        return token == END


class Collector:
    def __init__(self) -> None:
        self.text = ""
        self.places: list[Place] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.first_text_at: float | None = None

    def generation(self, prompt: list[int], tokens: list[int], **extra: object) -> Generation:
        def on_text(text: str) -> None:
            if self.first_text_at is None:
                self.first_text_at = time.monotonic()
            self.text += text

        def on_end(error: BaseException | None) -> None:
            self.error = error
            self.done.set()

        return Generation(
            prompt=prompt,
            sampler=iter(tokens),
            max_tokens=50,
            on_text=on_text,
            on_end=on_end,
            on_place=self.places.append,
            **extra,
        )  # type: ignore[arg-type]


def scheduler(engine: FakeEngine, parallel: int = 2, chunk: int = 128) -> BatchScheduler:
    return BatchScheduler(
        engine, parallel=parallel, sequences=parallel + 2, prefill_chunk=chunk, kept_bytes=10_000
    )


def test_answers_run_together_one_decode_per_step() -> None:
    engine = FakeEngine()
    engine.gate.clear()
    queue = scheduler(engine)
    a, b = Collector(), Collector()
    queue.submit("user:a", a.generation([1, 2, 3], [5, 6, END]))
    queue.submit("user:b", b.generation([1, 2, 4], [7, END]))
    engine.gate.set()
    assert a.done.wait(5) and b.done.wait(5)
    assert (a.text, b.text) == ("w5 w6 ", "w7 ")
    assert a.error is None and b.error is None
    steps_with_both = [b_ for b_ in engine.batches if len({e.seq for e in b_}) == 2]
    assert steps_with_both, "the two answers never shared a step"
    queue.shutdown()


def test_a_second_prompt_starts_from_the_prefix_the_first_left() -> None:
    engine = FakeEngine()
    queue = scheduler(engine, parallel=1)
    first, second = Collector(), Collector()
    queue.submit("user:a", first.generation([1, 2, 3, 4], [5, END]))
    assert first.done.wait(5)
    queue.submit("user:a", second.generation([1, 2, 3, 9], [6, END]))
    assert second.done.wait(5)
    placement = engine.placements[-1]
    assert placement.source is not None and placement.reused == 3
    read = [e.token for e in engine.batches[-2]]  # the step that read the second prompt
    assert read == [9]
    queue.shutdown()


def test_the_third_asker_waits_hears_its_place_and_goes_before_a_second_question() -> None:
    engine = FakeEngine(step_seconds=0.01)
    queue = scheduler(engine, parallel=1)
    first, again, other = Collector(), Collector(), Collector()
    queue.submit("user:a", first.generation([1], [2] * 20 + [END]))
    queue.submit("user:a", again.generation([3], [4, END]))
    queue.submit("user:b", other.generation([5], [6, END]))
    assert first.done.wait(5) and again.done.wait(5) and other.done.wait(5)
    assert other.first_text_at is not None and again.first_text_at is not None
    assert other.first_text_at < again.first_text_at  # b's first before a's second
    assert other.places and other.places[0].ahead == 1  # the running answer goes first
    assert 2 in [p.ahead for p in again.places]  # behind the running one and b
    queue.shutdown()


def test_a_cancelled_answer_frees_its_sequence_and_says_nothing_more() -> None:
    engine = FakeEngine(step_seconds=0.01)
    queue = scheduler(engine, parallel=1)
    running, waiting = Collector(), Collector()
    cancel = threading.Event()
    queue.submit("user:a", running.generation([1], [2] * 500, cancelled=cancel))
    queue.submit("user:b", waiting.generation([3], [4, END]))
    time.sleep(0.1)
    cancel.set()
    assert running.done.wait(2) and running.error is None
    assert waiting.done.wait(2) and waiting.text == "w4 "
    shown = running.text
    time.sleep(0.05)
    assert running.text == shown
    queue.shutdown()


def test_a_waiting_question_withdrawn_never_runs() -> None:
    engine = FakeEngine(step_seconds=0.01)
    queue = scheduler(engine, parallel=1)
    running, gone = Collector(), Collector()
    queue.submit("user:a", running.generation([1], [2] * 10 + [END]))
    ticket = queue.submit("user:b", gone.generation([3], [4, END]))
    assert queue.withdraw(ticket)
    assert running.done.wait(5)
    assert not gone.done.is_set() and gone.text == ""
    assert queue.idle(2)
    queue.shutdown()


def test_when_the_cache_is_full_kept_states_go_first() -> None:
    engine = FakeEngine()
    queue = scheduler(engine, parallel=1)
    first, second = Collector(), Collector()
    queue.submit("user:a", first.generation([1, 2], [3, END]))
    assert first.done.wait(5)
    engine.full_after = len(engine.batches)  # the next decode finds no room
    queue.submit("user:b", second.generation([7, 8], [9, END]))
    assert second.done.wait(5)
    assert second.error is None and second.text == "w9 "
    assert 0 in engine.cleared  # the kept state of the first answer made room


def test_when_nothing_can_give_way_the_newest_answer_fails_clearly() -> None:
    engine = FakeEngine(full_after=0)
    queue = scheduler(engine, parallel=1)
    only = Collector()
    queue.submit("user:a", only.generation([1, 2], [3, END]))
    assert only.done.wait(5)
    assert isinstance(only.error, LLMContextFull)
    queue.shutdown()


def test_stop_strings_and_max_tokens_end_an_answer() -> None:
    engine = FakeEngine()
    queue = scheduler(engine)
    stopped, capped = Collector(), Collector()
    queue.submit("user:a", stopped.generation([1], [5, 6, 7, END], stops=["w6"]))
    generation = capped.generation([1], [5] * 100)
    generation.max_tokens = 3
    queue.submit("user:b", generation)
    assert stopped.done.wait(5) and capped.done.wait(5)
    assert stopped.text == "w5 "
    assert capped.text == "w5 w5 w5 "
    queue.shutdown()
