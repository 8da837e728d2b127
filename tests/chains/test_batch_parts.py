"""Unit tests of the batched scheduler's pure parts: answer text, sequence pool, one step."""

from __future__ import annotations

import pytest

from chains.llm.answer_text import AnswerText
from chains.llm.batch_step import Answer, Entry, Generation, fair_order, next_batch
from chains.llm.sequence_pool import SequencePool, distinct_cells, shared_prefix


def test_answer_text_joins_a_character_split_across_tokens() -> None:
    text = AnswerText()
    euro = "€".encode()
    assert text.feed(euro[:1]) == ""
    assert text.feed(euro[1:]) == "€"
    assert text.close() == ""


def test_answer_text_holds_what_may_start_a_stop_string_and_cuts_at_it() -> None:
    text = AnswerText(stops=["<|im_end|>"])
    assert text.feed(b"Hello <|im") == "Hello "
    assert text.feed(b"_end|> ignored") == ""
    assert text.stopped
    assert text.feed(b"more") == ""
    assert text.close() == ""


def test_answer_text_releases_a_false_start_of_a_stop_string() -> None:
    text = AnswerText(stops=["STOP"])
    assert text.feed(b"ST") == ""
    assert text.feed(b"ART") == "START"
    assert text.feed(b" S") == " "
    assert text.close() == "S"


def test_shared_prefix_and_distinct_cells() -> None:
    assert shared_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert distinct_cells([[1, 2, 3], [1, 2, 4], [5]]) == 5  # 1,2 shared; 3; 4; 5


def test_pool_starts_from_the_longest_prefix_and_keeps_the_source() -> None:
    pool = SequencePool(3)
    first = pool.place([1, 2, 3, 4])
    assert (first.seq, first.source, first.reused, first.lookup) == (0, None, 0, "miss")
    pool.extend(0, [1, 2, 3, 4, 9])
    pool.release(0)
    second = pool.place([1, 2, 3, 7])
    assert second.source == 0 and second.reused == 3 and second.seq != 0
    assert second.lookup == "restored"
    assert pool.tokens(second.seq) == [1, 2, 3]
    assert pool.tokens(0) == [1, 2, 3, 4, 9]  # still there for others


def test_pool_never_reuses_a_whole_prompt_its_last_token_gives_the_logits() -> None:
    pool = SequencePool(2)
    pool.place([1, 2, 3])
    pool.extend(0, [1, 2, 3])
    pool.release(0)
    again = pool.place([1, 2, 3])
    assert again.reused == 2


def test_pool_reuses_the_source_in_place_when_it_is_the_only_idle_sequence() -> None:
    pool = SequencePool(2)
    pool.place([5, 6])
    pool.extend(0, [5, 6])
    pool.release(0)
    pool.place([8, 9])  # takes the empty sequence 1
    placement = pool.place([5, 6, 7])
    assert (placement.seq, placement.source, placement.lookup) == (0, 0, "in_context")


def test_pool_drops_the_oldest_kept_states_beyond_the_budget() -> None:
    pool = SequencePool(3)
    for seq, tokens in enumerate([[1, 1, 1], [2, 2, 2], [3, 3, 3]]):
        assert pool.place(tokens).seq == seq
        pool.extend(seq, tokens)
    for seq in range(3):
        pool.release(seq)
    assert pool.kept_cells() == 9
    assert pool.drop_until(6) == [0]
    assert pool.kept_cells() == 6
    assert pool.tokens(0) == []


def test_pool_refuses_to_place_when_every_sequence_is_busy() -> None:
    pool = SequencePool(1)
    pool.place([1, 2])
    assert not pool.free
    with pytest.raises(RuntimeError):
        pool.place([3, 4])


def _answer(seq: int, pending: list[int], last: int | None = None, pos: int = 0) -> Answer:
    generation = Generation(prompt=pending, sampler=None, max_tokens=8, on_text=print, on_end=print)
    answer = Answer(generation, seq, pending=list(pending), pos=pos, text=AnswerText())
    answer.last = last
    return answer


def test_a_step_holds_every_generating_answer_then_prompt_chunks_oldest_first() -> None:
    generating = _answer(0, [], last=42, pos=10)
    reading = _answer(1, [7, 8, 9, 10, 11])
    later = _answer(2, [20, 21])
    entries, readers = next_batch([generating, reading, later], prefill_chunk=4, batch_tokens=512)
    assert entries[0] == Entry(42, 10, 0, True)
    assert [(e.token, e.pos, e.seq, e.logits) for e in entries[1:]] == [
        (7, 0, 1, False),
        (8, 1, 1, False),
        (9, 2, 1, False),
        (10, 3, 1, False),
    ]  # a chunk of 4 prompt tokens; the later prompt waits for the next step
    assert readers == {0: generating}


def test_a_prompt_that_ends_in_the_step_reads_its_logits() -> None:
    reading = _answer(3, [7, 8])
    entries, readers = next_batch([reading], prefill_chunk=128, batch_tokens=512)
    assert [e.logits for e in entries] == [False, True]
    assert readers == {1: reading}


def test_with_nothing_being_written_a_step_reads_a_whole_batch_of_prompt() -> None:
    reading = _answer(0, list(range(1, 301)))
    entries, _ = next_batch([reading], prefill_chunk=128, batch_tokens=512)
    assert len(entries) == 300


def _asked(key: str, arrival: int, produced: int = 0) -> Answer:
    answer = _answer(arrival, [1, 2, 3])
    answer.key, answer.arrival, answer.produced = key, arrival, produced
    return answer


def test_another_users_first_prompt_is_read_before_a_users_second() -> None:
    a1, a2, b1 = _asked("a", 0), _asked("a", 1), _asked("b", 2)
    assert fair_order([a1, a2, b1], {}) == [a1, b1, a2]


def test_answers_already_started_count_for_their_asker() -> None:
    a2, b1 = _asked("a", 5), _asked("b", 6)
    assert fair_order([a2, b1], {"a": 1}) == [b1, a2]
    generating = _asked("a", 0, produced=3)
    assert fair_order([a2, b1, generating], {"a": 1})[-2:] == [b1, a2]
