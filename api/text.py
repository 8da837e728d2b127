"""Text-field hygiene shared by every request model."""

from __future__ import annotations

import unicodedata

_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


def check_clean_text(value: str, *, field: str, max_chars: int, allow_newlines: bool = True) -> str:
    """Refuse what breaks storage or logs: NUL and other controls, lone surrogates.

    PostgreSQL rejects NUL in text, and a lone surrogate cannot be encoded to
    UTF-8, so either would fail later, half-way through a request.
    """
    if not value.strip():
        raise ValueError(f"{field} must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{field} is {len(value)} characters long; the limit is {max_chars}")
    for char in value:
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(f"{field} contains an unpaired surrogate character")
        if unicodedata.category(char) == "Cc" and not (
            allow_newlines and char in _ALLOWED_CONTROLS
        ):
            raise ValueError(f"{field} contains a control character (U+{ord(char):04X})")
    return value
