"""Build the metadata filter a person picked in the sidebar (no validation: the backend does it).

`GET /index/stats` lists metadata values as JSON object keys, so every value
arrives as a string. The backend never coerces types (`"2024"` does not equal
`2024`), so a picked value that reads as a number or boolean is sent in both forms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

Scalar = str | int | float | bool

# Keys with more distinct values than this (ids, hashes) are left to the raw JSON editor.
MAX_PICKABLE_VALUES = 50
HIDDEN_KEYS = frozenset({"id", "chunk", "chunk_id", "doc_id", "hash", "start_index"})


class FilterSyntaxError(ValueError):
    """The raw filter text is not a JSON object."""


def typed_variants(value: str) -> list[Scalar]:
    """`"2024"` → `["2024", 2024]`; `"true"` → `["true", True]`; `"x"` → `["x"]`."""
    variants: list[Scalar] = [value]
    if value in ("true", "false"):
        variants.append(value == "true")
        return variants
    try:
        number = json.loads(value)
    except ValueError:
        return variants
    if isinstance(number, int | float) and not isinstance(number, bool):
        variants.append(number)
    return variants


def filter_from_picks(picks: Mapping[str, Sequence[str]]) -> dict[str, Any] | None:
    """One `$in` per key; keys are ANDed (top-level keys of a filter always are)."""
    clauses: dict[str, Any] = {}
    for key, values in picks.items():
        operands: list[Scalar] = []
        seen: set[tuple[type, Scalar]] = set()  # typed: `True in [1]` is true in Python
        for value in values:
            for variant in typed_variants(value):
                if (type(variant), variant) not in seen:
                    seen.add((type(variant), variant))
                    operands.append(variant)
        if operands:
            clauses[key] = {"$in": operands}
    return clauses or None


def parse_raw_filter(text: str) -> dict[str, Any] | None:
    """The JSON a person typed, or None when blank."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FilterSyntaxError(f"The filter is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FilterSyntaxError('The filter must be a JSON object, e.g. {"year": 2024}.')
    return value or None


def pickable_values(stats: Mapping[str, Any]) -> dict[str, list[str]]:
    """Metadata keys worth a picker, each with its values, most frequent first."""
    metadata = stats.get("metadata") or {}
    pickable: dict[str, list[str]] = {}
    for key in sorted(metadata):
        counts = metadata[key]
        if isinstance(counts, Mapping) and isinstance(counts.get("values"), Mapping):
            counts = counts["values"]  # the index's own shape: {"records", "distinct", "values"}
        if key in HIDDEN_KEYS or not isinstance(counts, Mapping):
            continue
        if 0 < len(counts) <= MAX_PICKABLE_VALUES:
            pickable[key] = sorted(counts, key=lambda v: (-int(counts[v] or 0), str(v)))
    return pickable
