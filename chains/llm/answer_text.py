"""An answer's text as its tokens arrive: whole characters only, cut at the first stop string.

llama.cpp hands out token pieces as bytes, and a character may be split across two
tokens; a stop string (the chat template's end-of-turn text, a caller's `stop`) may be
split across several. `create_completion` of llama-cpp-python does both inside one
generation loop; the batched scheduler runs several answers in one loop, so each keeps
one of these instead.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class AnswerText:
    """Feed it token pieces; it returns the text that is safe to show now."""

    def __init__(self, stops: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False
        """A stop string was met: nothing after it is ever shown."""

    def feed(self, piece: bytes) -> str:
        """The text the piece completes; text that might begin a stop string is held."""
        if self.stopped:
            return ""
        self._held += self._decoder.decode(piece)
        cut = min((i for s in self._stops if (i := self._held.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            shown, self._held = self._held[:cut], ""
            return shown
        keep = self._partial_stop_length()
        shown = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return shown

    def close(self) -> str:
        """What is still held when the answer ends without a stop string."""
        if self.stopped:
            return ""
        rest = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return rest

    def _partial_stop_length(self) -> int:
        """The longest end of the held text that is the start of a stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(self._held)), longest, -1):
                if self._held.endswith(stop[:size]):
                    longest = size
                    break
        return longest
