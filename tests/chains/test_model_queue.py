"""The model's fair queue: order across askers, places, withdrawal; real threads, no model.

Jobs here are plain functions that block on events the test sets, standing in for
generations: the queue's logic is what is tested, not llama.cpp.
"""

from __future__ import annotations

import threading
import time

import pytest

from chains.llm.fair_order import FairOrder
from chains.llm.queue import WAIT_LISTENERS, WAITING, ModelQueue, Place


def served(order: FairOrder) -> list[str]:
    keys = []
    while (ticket := order.pop()) is not None:
        keys.append(ticket.key)
    return keys


def test_a_users_second_question_waits_behind_other_users_first() -> None:
    order = FairOrder()
    for key in ["a", "a", "a", "b", "c", "b"]:
        order.push(key)
    assert served(order) == ["a", "b", "c", "a", "b", "a"]


def test_a_late_user_goes_before_the_second_question_of_one_already_served() -> None:
    order = FairOrder()
    for key in ["a", "a", "a"]:
        order.push(key)
    assert order.pop().key == "a"  # type: ignore[union-attr]
    order.push("b")  # arrives while a's first is answered
    order.push("c")
    assert served(order) == ["b", "c", "a", "a"]


def test_an_idle_user_saves_up_no_turns() -> None:
    order = FairOrder()
    order.push("a")
    assert served(order) == ["a"]
    for key in ["b", "b", "b"]:
        order.push(key)
    assert [order.pop().key, order.pop().key] == ["b", "b"]  # type: ignore[union-attr]
    order.push("a")  # a comes back: it joins the round being served, not round 1
    order.push("b")
    assert served(order) == ["a", "b", "b"]


def test_places_count_the_questions_served_first() -> None:
    order = FairOrder()
    a1, a2, b1 = order.push("a"), order.push("a"), order.push("b")
    assert [order.ahead_of(t) for t in (a1, b1, a2)] == [0, 1, 2]


def test_a_withdrawn_question_leaves_and_does_not_delay_its_askers_next() -> None:
    order = FairOrder()
    a1 = order.push("a")
    order.push("b")
    assert order.remove(a1) is True
    assert order.remove(a1) is False
    order.push("a")  # round 0 again, not round 1
    assert served(order) == ["b", "a"]


class Gate:
    """A job that waits until the test opens it, and records when it ran."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log
        self.opened = threading.Event()
        self.started = threading.Event()

    def __call__(self) -> bool:
        self.started.set()
        self.log.append(self.name)
        assert self.opened.wait(5)
        return True


@pytest.fixture
def model_queue() -> ModelQueue:
    queue = ModelQueue(name="test-queue")
    yield queue
    queue.shutdown()


def test_jobs_run_in_fair_order_on_one_thread(model_queue: ModelQueue) -> None:
    log: list[str] = []
    first = Gate("a1", log)
    model_queue.submit("a", first)
    assert first.started.wait(5)
    gates = [Gate(name, log) for name in ["a2", "a3", "b1", "c1"]]
    for gate in gates:
        model_queue.submit(gate.name[0], gate)
    for gate in [first, *gates]:
        gate.opened.set()
    assert model_queue.idle(5)
    assert log == ["a1", "b1", "c1", "a2", "a3"]


def test_a_waiting_job_hears_its_place_move_and_an_estimate(model_queue: ModelQueue) -> None:
    log: list[str] = []
    timed = Gate("timed", log)
    timed.opened.set()
    model_queue.submit("x", timed)
    assert model_queue.idle(5)  # one answer timed: estimates can be given
    running, second = Gate("a1", log), Gate("b1", log)
    model_queue.submit("a", running)
    assert running.started.wait(5)
    model_queue.submit("b", second)
    places: list[Place] = []
    third = Gate("c1", log)
    ticket = model_queue.submit("c", third, on_place=places.append)
    assert places[-1].ahead == 2 and places[-1].estimate_seconds is not None
    running.opened.set()
    assert second.started.wait(5)
    deadline = time.monotonic() + 5
    while places[-1].ahead != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert places[-1].ahead == 1
    assert model_queue.place(ticket) == places[-1]
    second.opened.set()
    third.opened.set()
    assert model_queue.idle(5)
    assert model_queue.place(ticket) is None


def test_a_withdrawn_job_never_runs_and_the_depth_drops_at_once(model_queue: ModelQueue) -> None:
    log: list[str] = []
    running = Gate("a1", log)
    model_queue.submit("a", running)
    assert running.started.wait(5)
    depth = WAITING.waiting
    places: list[Place] = []
    later = Gate("c1", log)
    model_queue.submit("c", later, on_place=places.append)
    withdrawn = model_queue.submit("b", Gate("b1", log))
    assert WAITING.waiting == depth + 2
    started = time.perf_counter()
    assert model_queue.withdraw(withdrawn) is True
    assert time.perf_counter() - started < 0.05
    assert WAITING.waiting == depth + 1
    running.opened.set()
    later.opened.set()
    assert model_queue.idle(5)
    assert log == ["a1", "c1"]
    assert model_queue.withdraw(withdrawn) is False


def test_each_wait_is_reported_when_its_job_starts(model_queue: ModelQueue) -> None:
    waits: list[float] = []
    WAIT_LISTENERS.append(waits.append)
    try:
        log: list[str] = []
        first, second = Gate("a1", log), Gate("b1", log)
        model_queue.submit("a", first)
        assert first.started.wait(5)
        model_queue.submit("b", second)
        time.sleep(0.2)
        first.opened.set()
        second.opened.set()
        assert model_queue.idle(5)
    finally:
        WAIT_LISTENERS.remove(waits.append)
    assert len(waits) == 2
    assert waits[1] >= 0.2 > waits[0]


def test_a_failing_job_does_not_stop_the_queue(model_queue: ModelQueue) -> None:
    def broken() -> bool:
        raise RuntimeError("a bug in a job")

    log: list[str] = []
    after = Gate("after", log)
    after.opened.set()
    model_queue.submit("a", broken)
    model_queue.submit("b", after)
    assert model_queue.idle(5)
    assert log == ["after"]
