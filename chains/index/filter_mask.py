"""Chunk metadata held column by column, so a filter compiles to a numpy boolean mask.

Each key keeps one typed column per value type it has been seen with (a key may hold a
string in one record and a number in another): strings as int32 codes into a vocabulary,
numbers as float64 (NaN where absent; ints are flagged so they come back as ints), bools as
int8 (-1 absent), lists of strings as CSR codes. The semantics are those of
`chains.index.filters.matches`, which the tests compare this against.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from chains.index.filters import RANGE_OPS, FilterError

Record = dict[str, Any]


def _mark(mask: np.ndarray, column: np.ndarray, values: list) -> np.ndarray:
    """`mask |= column in values`; a few `==` passes beat np.isin's sort for short lists."""
    if len(values) > 16:
        mask |= np.isin(column, values)
        return mask
    for value in values:
        mask |= column == value
    return mask


class KeyColumn:
    """All values of one metadata key across the N records."""

    def __init__(self, values: list[Any]) -> None:
        n = len(values)
        self.present = np.zeros(n, dtype=bool)
        self.codes = np.full(n, -1, dtype=np.int32)
        self.num = np.full(n, np.nan)
        self.is_int = np.zeros(n, dtype=bool)
        self.flag = np.full(n, -1, dtype=np.int8)
        self.vocab: list[str] = []
        lookup: dict[str, int] = {}
        list_rows: list[int] = []
        list_codes: list[int] = []
        self.is_list = np.zeros(n, dtype=bool)
        for row, value in enumerate(values):
            if value is None:
                continue
            self.present[row] = True
            if isinstance(value, bool):
                self.flag[row] = int(value)
            elif isinstance(value, int | float):
                self.num[row] = value
                self.is_int[row] = isinstance(value, int)
            elif isinstance(value, str):
                self.codes[row] = lookup.setdefault(value, len(lookup))
            elif isinstance(value, list):
                self.is_list[row] = True
                for item in value:
                    list_rows.append(row)
                    list_codes.append(lookup.setdefault(str(item), len(lookup)))
            else:
                raise TypeError(f"unsupported metadata value {value!r}")
        self.vocab = list(lookup)
        self.list_rows = np.array(list_rows, dtype=np.int32)
        self.list_codes = np.array(list_codes, dtype=np.int32)
        self._lookup = lookup

    def value(self, row: int) -> Any:
        if not self.present[row]:
            return None
        if self.flag[row] >= 0:
            return bool(self.flag[row])
        if self.codes[row] >= 0:
            return self.vocab[self.codes[row]]
        if self.is_list[row]:
            lo, hi = np.searchsorted(self.list_rows, [row, row + 1])
            return [self.vocab[c] for c in self.list_codes[lo:hi]]
        number = float(self.num[row])
        return int(number) if self.is_int[row] else number

    def eq_any(self, wanted: list[Any]) -> np.ndarray:
        """Rows whose value (or any list element) equals one of `wanted`, without coercion."""
        mask = np.zeros(len(self.present), dtype=bool)
        strings = [self._lookup[w] for w in wanted if isinstance(w, str) and w in self._lookup]
        bools = [int(w) for w in wanted if isinstance(w, bool)]
        numbers = [w for w in wanted if isinstance(w, int | float) and not isinstance(w, bool)]
        if strings:
            _mark(mask, self.codes, strings)
            if self.list_codes.size:
                hits = np.zeros(len(self.list_codes), dtype=bool)
                mask[self.list_rows[_mark(hits, self.list_codes, strings)]] = True
        if bools:
            _mark(mask, self.flag, bools)
        if numbers:
            _mark(mask, self.num, numbers)
        return mask

    def compare(self, op: str, bound: float) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            if op == "$gt":
                return self.num > bound
            if op == "$gte":
                return self.num >= bound
            if op == "$lt":
                return self.num < bound
            return self.num <= bound

    def counts(self) -> dict[str, int]:
        """How many records hold each value (list elements counted one by one)."""
        out: dict[str, int] = {}
        codes = np.concatenate([self.codes[self.codes >= 0], self.list_codes])
        unique_codes, code_counts = np.unique(codes, return_counts=True)
        for code, count in zip(unique_codes, code_counts, strict=True):
            out[self.vocab[code]] = int(count)
        flags, flag_counts = np.unique(self.flag[self.flag >= 0], return_counts=True)
        for flag, count in zip(flags, flag_counts, strict=True):
            out["true" if flag else "false"] = int(count)
        numbers = ~np.isnan(self.num)
        values, value_counts = np.unique(self.num[numbers], return_counts=True)
        for number, count in zip(values, value_counts, strict=True):
            key = str(int(number)) if float(number).is_integer() else str(number)
            out[key] = out.get(key, 0) + int(count)
        return out


class MetadataTable:
    """Columnar metadata for N records with filter-to-mask compilation."""

    def __init__(self, records: list[Record]) -> None:
        self.n = len(records)
        keys = list(dict.fromkeys(k for r in records for k in r))
        self.columns = {k: KeyColumn([r.get(k) for r in records]) for k in keys}

    def record(self, row: int) -> Record:
        out = {}
        for key, column in self.columns.items():
            if column.present[row]:
                out[key] = column.value(row)
        return out

    def records(self) -> list[Record]:
        return [self.record(i) for i in range(self.n)]

    def mask(self, filter: dict[str, Any] | None) -> np.ndarray | None:
        """Boolean mask of matching rows; None when there is no filter (all rows match)."""
        if not filter:
            return None
        return self._clause(filter)

    def _clause(self, clause: dict[str, Any]) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        for key, value in clause.items():
            if key == "$and":
                for sub in value:
                    mask &= self._clause(sub)
            elif key == "$or":
                either = np.zeros(self.n, dtype=bool)
                for sub in value:
                    either |= self._clause(sub)
                mask &= either
            elif key.startswith("$"):
                raise FilterError(f"unknown filter operator '{key}' at top level")
            elif isinstance(value, dict):
                for op, operand in value.items():
                    mask &= self._condition(key, op, operand)
            else:
                mask &= self._condition(key, "$eq", value)
        return mask

    def _condition(self, key: str, op: str, operand: Any) -> np.ndarray:
        column = self.columns.get(key)
        if column is None:
            matches_missing = op in ("$ne", "$nin") or (op == "$exists" and operand is False)
            return np.full(self.n, matches_missing, dtype=bool)
        if op == "$exists":
            return column.present.copy() if operand else ~column.present
        if op == "$eq":
            return column.eq_any([operand])
        if op == "$ne":
            return ~column.eq_any([operand])
        if op == "$in":
            return column.eq_any(list(operand))
        if op == "$nin":
            return ~column.eq_any(list(operand))
        if op in RANGE_OPS:
            return column.compare(op, float(operand))
        raise FilterError(f"unknown filter operator '{op}' at '{key}'")

    def stats(self, top: int = 20) -> dict[str, dict[str, Any]]:
        """Per key: how many records have it, distinct values, and the most common ones."""
        out = {}
        for key, column in self.columns.items():
            counts = column.counts()
            common = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            out[key] = {
                "records": int(column.present.sum()),
                "distinct": len(counts),
                "values": dict(common),
            }
        return out

    # Persistence: the records as JSON lines are simple and load fast enough.
    def to_jsonl(self) -> bytes:
        lines = (json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in self.records())
        return "".join(line + "\n" for line in lines).encode("utf-8")

    @classmethod
    def from_jsonl(cls, data: bytes) -> MetadataTable:
        return cls([json.loads(line) for line in data.decode("utf-8").splitlines() if line])
