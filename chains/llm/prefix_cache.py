"""Evaluated prompt states kept in RAM, so a prompt shape survives another one in between.

llama.cpp reuses only the prefix a new prompt shares with the tokens its context holds
now: after a `/formatted` call, a `/chat` question re-reads the whole RAG system turn.
Here, each finished generation's state (its KV cache, prompt and answer tokens) is kept,
least recently used first out, within a byte budget; a new prompt whose longest shared
prefix is in a kept state rather than in the context starts from that state.

llama_cpp's own `LlamaRAMCache` does this through `Llama.save_state`, which also copies
the logits buffer (n_batch × vocabulary floats: 311 MB for Qwen2.5) on every save and
leaves it out of the byte count. The states here hold the KV cache and tokens only
(about 28 KB per token for Qwen2.5-1.5B); the logits are recomputed by the one token
llama.cpp always re-evaluates after a restore.
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from chains.llm.sequence_pool import shared_prefix

if TYPE_CHECKING:
    from llama_cpp import Llama

# llama_cpp is imported where it is used: metrics listen here without loading llama.cpp.

LOOKUP_LISTENERS: list[Callable[[str], None]] = []
"""Called with each lookup's result: `restored` (a kept state was loaded), `in_context`
(the context already held the longest prefix), `miss` (nothing shares a prefix)."""
SIZE_LISTENERS: list[Callable[[int], None]] = []
"""Called with the bytes the kept states hold, whenever that changes."""


@dataclass(frozen=True)
class PrefixState:
    """A context's KV cache and the tokens it holds."""

    input_ids: np.ndarray
    data: Any  # a ctypes byte array: llama_state_get_data's output
    size: int

    @property
    def llama_state_size(self) -> int:  # what BaseLlamaCache implementations count
        return self.size


class PrefixStates:
    """The kept states, by their tokens: what `Llama` expects of a `BaseLlamaCache`
    (it consults it on every prompt and stores into it after every completion)."""

    def __init__(self, llama: Llama, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._llama = llama
        self._states: OrderedDict[tuple[int, ...], PrefixState] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cache_size(self) -> int:
        return sum(state.size for state in self._states.values())

    def _longest(self, tokens: tuple[int, ...]) -> tuple[tuple[int, ...] | None, int]:
        best, length = None, 0
        for key in self._states:
            shared = shared_prefix(key, tokens)
            if shared > length:
                best, length = key, shared
        return best, length

    def __getitem__(self, key: Sequence[int]) -> PrefixState:
        tokens = tuple(key)
        with self._lock:
            best, length = self._longest(tokens)
            in_context = shared_prefix(
                self._llama.input_ids[: self._llama.n_tokens].tolist(), tokens
            )
            if best is None or length <= in_context:
                result = "miss" if best is None and in_context == 0 else "in_context"
                state = None
            else:
                result, state = "restored", self._states[best]
                self._states.move_to_end(best)
        for listener in LOOKUP_LISTENERS:
            listener(result)
        if state is None:
            raise KeyError("no kept state shares a longer prefix than the context")
        return state

    def __contains__(self, key: Sequence[int]) -> bool:
        return self._longest(tuple(key))[0] is not None

    def __setitem__(self, key: Sequence[int], value: PrefixState) -> None:
        tokens = tuple(key)
        with self._lock:
            self._states.pop(tokens, None)
            if value.size <= self.capacity_bytes:
                self._states[tokens] = value
            while self.cache_size > self.capacity_bytes:
                self._states.popitem(last=False)
            size = self.cache_size
        for listener in SIZE_LISTENERS:
            listener(size)


def save_state(llama: Llama) -> PrefixState:
    """The context's KV cache and tokens, without the logits buffer."""
    from llama_cpp import llama_cpp

    ctx = llama._ctx.ctx
    capacity = llama_cpp.llama_state_get_size(ctx)
    data = (ctypes.c_uint8 * capacity)()
    size = int(llama_cpp.llama_state_get_data(ctx, data, capacity))
    return PrefixState(llama.input_ids[: llama.n_tokens].copy(), data, size)


def load_state(llama: Llama, state: PrefixState) -> None:
    """Put a kept state back; the next evaluation recomputes the logits."""
    from llama_cpp import llama_cpp

    if llama_cpp.llama_state_set_data(llama._ctx.ctx, state.data, state.size) != state.size:
        raise RuntimeError("llama.cpp refused a kept prompt state")
    count = len(state.input_ids)
    llama.input_ids[:count] = state.input_ids
    llama.n_tokens = count
    llama._requires_eval = True  # the logits are not part of the state


def keep_prefix_states(llama: Llama, capacity_bytes: int) -> PrefixStates | None:
    """Give `llama` a RAM cache of prompt states within `capacity_bytes` (0: none).

    `Llama` consults `cache` and calls its own `save_state`/`load_state`; this instance's
    are replaced by the light ones above.
    """
    if capacity_bytes <= 0:
        return None
    states = PrefixStates(llama, capacity_bytes)
    llama.save_state = lambda: save_state(llama)  # type: ignore[method-assign]
    llama.load_state = lambda state: load_state(llama, state)  # type: ignore[method-assign]
    llama.set_cache(states)  # type: ignore[arg-type]
    return states
