"""Read the upload form's metadata box: one `key=value` per line, like the CLI's `--meta`.

Values stay strings here; the server types them as the CLI does (ints, floats, true/false).
"""

from __future__ import annotations

MAX_KEY_CHARS = 64


class MetadataSyntaxError(ValueError):
    """A line that is not `key=value`: nothing is sent, the person fixes the line."""


def parse_metadata_lines(text: str) -> dict[str, str]:
    """`"team=docs\\nyear = 2024"` → `{"team": "docs", "year": "2024"}`; blank lines skipped."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise MetadataSyntaxError(
                f"Metadata line {number} is not key=value: {line.strip()[:60]!r}"
            )
        if len(key) > MAX_KEY_CHARS:
            raise MetadataSyntaxError(
                f"Metadata line {number}: the key is longer than {MAX_KEY_CHARS} characters."
            )
        if key in pairs:
            # Silently keeping one of two values would tag every file wrongly.
            raise MetadataSyntaxError(f"Metadata line {number}: {key!r} is given twice.")
        pairs[key] = value
    return pairs
