"""A llama.cpp context with room for several answers, over the weights a `Llama` loaded.

llama-cpp-python's `Llama` keeps one sequence per context. This context shares the
model (weights are not loaded twice) and has `sequences` sequence ids, each with its own
cells by default: in one unified cache every token attends over every sequence's cells
(masked), which made one answer alone 8 % slower to generate and the first of four
answers asked at once 6 s late on Qwen2.5-1.5B; a separate stream per sequence costs a
whole-buffer copy when a prompt starts from another's prefix (milliseconds). The
`BatchScheduler` drives it; prompts are formatted and tokenized as `Llama` would for
`create_chat_completion`, and sampling uses the same sampler chain, so a batched
answer is the answer the one-at-a-time path gives.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chains.llm.batch_scheduler import Entry
from chains.llm.sequence_pool import Placement

if TYPE_CHECKING:
    from llama_cpp import Llama

_F16_BYTES = 2


def fill_batch(batch: Any, entries: Sequence[Entry]) -> Any:
    """`batch` (a `llama_batch`) holding `entries`, one sequence id each."""
    for i, entry in enumerate(entries):
        batch.token[i] = entry.token
        batch.pos[i] = entry.pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = entry.seq
        batch.logits[i] = entry.logits
    batch.n_tokens = len(entries)
    return batch


class LlamaBatchEngine:
    """One context of `cells` KV cells for `sequences` sequences on `llama`'s model (split
    evenly between them unless `unified`)."""

    def __init__(
        self,
        llama: Llama,
        sequences: int,
        cells: int,
        threads: int,
        batch_tokens: int = 512,
        unified: bool = False,
    ) -> None:
        from llama_cpp import llama_cpp

        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        self._lib = llama_cpp
        self._llama = llama
        model = llama._model.model
        # The `Llama`'s own parameters (attention kernel, KV types...), so that a batched
        # answer is computed as the one-at-a-time one; only the room for sequences differs.
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        params.n_seq_max = sequences
        params.n_ctx = cells
        params.n_batch = params.n_ubatch = (
            batch_tokens  # one ubatch: a failed decode changes nothing
        )
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = unified
        self.unified = unified
        self._ctx = llama_cpp.llama_init_from_model(model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create a batched context")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(batch_tokens, 0, 1)
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.batch_tokens = batch_tokens
        self.cells = cells
        layers = llama_cpp.llama_model_n_layer(model)
        kv_width = (
            llama_cpp.llama_model_n_embd(model)
            // max(1, llama_cpp.llama_model_n_head(model))
            * max(1, llama_cpp.llama_model_n_head_kv(model))
        )
        self.bytes_per_token = 2 * layers * kv_width * _F16_BYTES
        """Key and value rows of every layer, f16: what one cell holds."""

    @property
    def context(self) -> Any:
        return self._ctx

    def place(self, placement: Placement) -> None:
        rm, seq = self._lib.llama_memory_seq_rm, placement.seq
        if placement.source == seq:
            rm(self._memory, seq, placement.reused, -1)
            return
        rm(self._memory, seq, -1, -1)
        if placement.source is None or not placement.reused:
            return
        if self.unified:  # the copy adds a sequence id to the cells
            self._lib.llama_memory_seq_cp(self._memory, placement.source, seq, 0, placement.reused)
        else:  # across streams llama.cpp copies whole buffers (at the next decode): trim after
            self._lib.llama_memory_seq_cp(self._memory, placement.source, seq, -1, -1)
            rm(self._memory, seq, placement.reused, -1)

    def clear(self, seq: int) -> None:
        self._lib.llama_memory_seq_rm(self._memory, seq, 0, -1)

    def decode(self, entries: Sequence[Entry]) -> bool:
        code = self._lib.llama_decode(self._ctx, fill_batch(self._batch, entries))
        if code == 1:
            return False
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        return True

    def sample(self, sampler: Any, index: int) -> int:
        return int(self._lib.llama_sampler_sample(sampler.sampler, self._ctx, index))

    def piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        size = self._lib.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False)
        if size < 0:
            buffer = ctypes.create_string_buffer(-size)
            size = self._lib.llama_token_to_piece(self._vocab, token, buffer, -size, 0, False)
        return buffer.raw[:size]

    def is_end(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def close(self) -> None:
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)
