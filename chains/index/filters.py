"""Metadata filters in Pinecone's filter language: validation and a reference evaluator.

Both backends take the same filter dicts: Pinecone receives them as they are, the local
index compiles them into numpy masks (`chains.index.filter_mask`). `matches` here is the
pure-Python reference both are tested against.

Semantics (Pinecone's and MongoDB's):

* `{"k": v}` means `{"k": {"$eq": v}}`; keys of one dict, and operators on one key, are ANDed.
* A record lacking the key: `$eq $in $gt $gte $lt $lte` do not match, `$ne $nin` match,
  `$exists: false` matches.
* Types never coerce: ints and floats compare numerically, a bool is not a number
  (`True` does not equal `1`), and a range operator on a string or bool field never matches.
* A list-of-strings field: `$eq`/`$in` match if any element matches, `$ne`/`$nin` match if
  none does, range operators never match.
"""

from __future__ import annotations

import math
from typing import Any

Scalar = str | int | float | bool

COMPARISON_OPS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"})
LOGICAL_OPS = frozenset({"$and", "$or"})
RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})
MAX_IN_VALUES = 10_000  # Pinecone's own limit for $in / $nin


class InvalidSearch(ValueError):
    """A search request that cannot run as asked (k, mode, alpha or filter)."""


class FilterError(InvalidSearch):
    """A filter a person wrote wrong; the message names the operator or key and where."""


def _where(path: str) -> str:
    return f"at '{path}'" if path else "at top level"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def validate_filter(
    filter: dict[str, Any] | None, *, max_depth: int, max_nodes: int
) -> dict[str, Any] | None:
    """Check a filter's structure, operand types and size; return it, or None if empty.

    Raises FilterError with a message that names the offending operator or key.
    """
    if filter is None:
        return None
    if not isinstance(filter, dict):
        raise FilterError(f"a filter must be an object, got {type(filter).__name__}")
    if not filter:
        return None
    counter = [0]
    _check_clause(filter, "", 1, max_depth, max_nodes, counter)
    return filter


def _count(counter: list[int], max_nodes: int, path: str) -> None:
    counter[0] += 1
    if counter[0] > max_nodes:
        raise FilterError(f"filter too large: more than {max_nodes} conditions ({_where(path)})")


def _check_clause(
    clause: dict[str, Any], path: str, depth: int, max_depth: int, max_nodes: int, counter: list
) -> None:
    if depth > max_depth:
        raise FilterError(f"filter nested deeper than {max_depth} levels {_where(path)}")
    for key, value in clause.items():
        if not isinstance(key, str) or not key:
            raise FilterError(f"filter keys must be non-empty strings {_where(path)}")
        here = f"{path}.{key}" if path else key
        if key in LOGICAL_OPS:
            _count(counter, max_nodes, here)
            if not isinstance(value, list) or not value:
                raise FilterError(f"'{key}' needs a non-empty list of filters {_where(path)}")
            for i, sub in enumerate(value):
                sub_path = f"{here}[{i}]"
                if not isinstance(sub, dict) or not sub:
                    raise FilterError(f"'{key}' items must be non-empty objects at '{sub_path}'")
                _check_clause(sub, sub_path, depth + 1, max_depth, max_nodes, counter)
        elif key.startswith("$"):
            raise FilterError(f"unknown filter operator '{key}' {_where(path)}")
        else:
            _check_field(here, value, max_nodes, counter)


def _check_field(path: str, condition: object, max_nodes: int, counter: list) -> None:
    if not isinstance(condition, dict):
        _count(counter, max_nodes, path)
        _check_operand(path, "$eq", condition)
        return
    if not condition:
        raise FilterError(f"empty condition at '{path}'")
    for op, operand in condition.items():
        if op not in COMPARISON_OPS:
            if isinstance(op, str) and op.startswith("$"):
                raise FilterError(f"unknown filter operator '{op}' at '{path}'")
            raise FilterError(
                f"expected an operator such as '$eq' at '{path}', got key '{op}' "
                "(nested fields are not supported)"
            )
        _count(counter, max_nodes, path)
        _check_operand(path, op, operand)


def _check_operand(path: str, op: str, operand: object) -> None:
    if op in RANGE_OPS:
        if not _is_number(operand) or not math.isfinite(operand):  # type: ignore[arg-type]
            raise FilterError(f"'{op}' at '{path}' needs a number, got {operand!r}")
    elif op == "$exists":
        if not isinstance(operand, bool):
            raise FilterError(f"'$exists' at '{path}' needs true or false, got {operand!r}")
    elif op in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand:
            raise FilterError(f"'{op}' at '{path}' needs a non-empty list, got {operand!r}")
        if len(operand) > MAX_IN_VALUES:
            raise FilterError(f"'{op}' at '{path}' has more than {MAX_IN_VALUES} values")
        bad = [v for v in operand if not _is_scalar(v)]
        if bad:
            raise FilterError(
                f"'{op}' at '{path}' takes strings, numbers or booleans, got {bad[0]!r}"
            )
    elif not _is_scalar(operand):
        hint = " (use '$in' for a list)" if isinstance(operand, list) else ""
        raise FilterError(
            f"'{op}' at '{path}' needs a string, number or boolean, got {operand!r}{hint}"
        )


def scalar_equal(stored: object, wanted: object) -> bool:
    """Equality without coercion between bool, number and string."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if _is_number(stored) and _is_number(wanted):
        return stored == wanted
    return isinstance(stored, str) and isinstance(wanted, str) and stored == wanted


def _value_eq(stored: object, wanted: object) -> bool:
    if isinstance(stored, list):
        return any(scalar_equal(item, wanted) for item in stored)
    return scalar_equal(stored, wanted)


def _field_matches(metadata: dict[str, Any], key: str, op: str, operand: Any) -> bool:
    present = key in metadata
    stored = metadata.get(key)
    if op == "$exists":
        return present is operand
    if op == "$eq":
        return present and _value_eq(stored, operand)
    if op == "$ne":
        return not (present and _value_eq(stored, operand))
    if op == "$in":
        return present and any(_value_eq(stored, v) for v in operand)
    if op == "$nin":
        return not (present and any(_value_eq(stored, v) for v in operand))
    if op in RANGE_OPS:
        if not (present and _is_number(stored)):
            return False
        if op == "$gt":
            return stored > operand
        if op == "$gte":
            return stored >= operand
        if op == "$lt":
            return stored < operand
        return stored <= operand
    raise FilterError(f"unknown filter operator '{op}' at '{key}'")


def matches(metadata: dict[str, Any], filter: dict[str, Any] | None) -> bool:
    """Whether one record's metadata satisfies a filter (the reference evaluator)."""
    if not filter:
        return True
    for key, value in filter.items():
        if key == "$and":
            if not all(matches(metadata, sub) for sub in value):
                return False
        elif key == "$or":
            if not any(matches(metadata, sub) for sub in value):
                return False
        elif key.startswith("$"):
            raise FilterError(f"unknown filter operator '{key}' at top level")
        elif isinstance(value, dict):
            if not all(_field_matches(metadata, key, op, arg) for op, arg in value.items()):
                return False
        elif not _field_matches(metadata, key, "$eq", value):
            return False
    return True
