"""The one check for text a person sends: questions, names, ids, comments.

PostgreSQL rejects NUL in text and a lone surrogate cannot be encoded to UTF-8, so either
would fail half-way through a request; invisible characters in a name (bidi overrides,
zero-width spaces) would let two users look alike.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

TextKind = Literal["text", "line", "name"]

_NEWLINES_AND_TABS = frozenset("\n\r\t")
# Format characters (bidi, zero-width) and line/paragraph separators: invisible in a name.
_INVISIBLE = frozenset({"Cf", "Zl", "Zp"})


def check_text(value: object, *, field: str, max_chars: int, kind: TextKind = "text") -> str:
    """Return `value` unchanged if it is acceptable text, else raise ValueError naming `field`.

    `text` allows newlines and tabs; `line` allows neither; `name` (user names, ids) also
    refuses invisible characters and surrounding whitespace.
    """
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{field} must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{field} is {len(value)} characters long; the limit is {max_chars}")
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise ValueError(f"{field} contains an unpaired surrogate character")
        if category == "Cc" and not (kind == "text" and char in _NEWLINES_AND_TABS):
            raise ValueError(f"{field} contains a control character (U+{ord(char):04X})")
        if kind == "name" and category in _INVISIBLE:
            raise ValueError(f"{field} contains an invisible character (U+{ord(char):04X})")
    if kind == "name" and value != value.strip():
        raise ValueError(f"{field} must not start or end with whitespace")
    return value
