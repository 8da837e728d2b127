"""The sidebar's filter builder (pure functions; the backend validates the result)."""

from __future__ import annotations

import pytest

from frontend.filters import (
    MAX_PICKABLE_VALUES,
    FilterSyntaxError,
    filter_from_picks,
    parse_raw_filter,
    pickable_values,
    typed_variants,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024", ["2024", 2024]),
        ("0.5", ["0.5", 0.5]),
        ("true", ["true", True]),
        ("guide", ["guide"]),
        ("[1]", ["[1]"]),
        ("null", ["null"]),
    ],
)
def test_typed_variants(value: str, expected: list) -> None:
    result = typed_variants(value)
    assert result == expected
    assert [type(v) for v in result] == [type(v) for v in expected]


def test_picks_become_one_in_per_key_and_empty_keys_are_dropped() -> None:
    picked = filter_from_picks({"year": ["2024", "2023"], "lang": ["en"], "topic": []})
    assert picked == {"year": {"$in": ["2024", 2024, "2023", 2023]}, "lang": {"$in": ["en"]}}


def test_true_and_one_are_both_kept() -> None:
    operands = filter_from_picks({"flag": ["1", "true"]})["flag"]["$in"]  # type: ignore[index]
    assert operands == ["1", 1, "true", True]
    assert [type(v) for v in operands] == [str, int, str, bool]


def test_nothing_picked_means_no_filter() -> None:
    assert filter_from_picks({"year": []}) is None


def test_raw_filter_parses_objects_and_explains_the_rest() -> None:
    assert parse_raw_filter('  {"year": {"$gte": 2024}} ') == {"year": {"$gte": 2024}}
    assert parse_raw_filter("   ") is None
    assert parse_raw_filter("{}") is None
    with pytest.raises(FilterSyntaxError, match="not valid JSON"):
        parse_raw_filter("{year: 2024}")
    with pytest.raises(FilterSyntaxError, match="must be a JSON object"):
        parse_raw_filter("[1, 2]")


def test_pickable_values_skip_ids_and_high_cardinality_keys() -> None:
    many = {str(i): 1 for i in range(MAX_PICKABLE_VALUES + 1)}
    stats = {
        "total_chunks": 9,
        "metadata": {
            "year": {"2023": 1, "2024": 5},
            "id": {"a": 1},
            "chunk": many,
            "lang": {"fr": 2, "en": 2},
        },
    }
    assert pickable_values(stats) == {"lang": ["en", "fr"], "year": ["2024", "2023"]}
    assert pickable_values({}) == {}


def test_pickable_values_read_the_indexs_detailed_shape_too() -> None:
    stats = {
        "metadata": {"topic": {"records": 3, "distinct": 2, "values": {"howto": 1, "tutorial": 2}}}
    }
    assert pickable_values(stats) == {"topic": ["tutorial", "howto"]}
