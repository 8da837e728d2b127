"""The filter language: validation messages, reference semantics, and the numpy compiler."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chains.index.chunks import Chunk
from chains.index.filter_mask import MetadataTable
from chains.index.filters import FilterError, matches, validate_filter
from chains.index.snapshot import Snapshot

LIMITS = {"max_depth": 4, "max_nodes": 64}
DOC = {"year": 2005, "score": 0.5, "lang": "en", "draft": False, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"lang": "en"}, True),
        ({"lang": {"$eq": "de"}}, False),
        ({"lang": {"$ne": "de"}}, True),
        ({"year": {"$gt": 2004}}, True),
        ({"year": {"$gt": 2005}}, False),
        ({"year": {"$gte": 2005}}, True),
        ({"year": {"$lt": 2005.5}}, True),
        ({"year": {"$lte": 2004}}, False),
        ({"year": {"$gte": 2000, "$lt": 2010}}, True),
        ({"lang": {"$in": ["de", "en"]}}, True),
        ({"lang": {"$nin": ["de", "en"]}}, False),
        ({"draft": {"$exists": True}}, True),
        ({"missing": {"$exists": False}}, True),
        ({"year": 2005.0}, True),  # ints and floats compare numerically
        ({"lang": "en", "year": 1999}, False),  # keys of one dict are ANDed
        ({"$or": [{"lang": "de"}, {"year": 2005}]}, True),
        ({"$and": [{"lang": "en"}, {"$or": [{"draft": True}, {"score": {"$lt": 1}}]}]}, True),
        ({"tags": "a"}, True),  # a list field matches if any element does
        ({"tags": {"$in": ["z", "b"]}}, True),
        ({"tags": {"$nin": ["b"]}}, False),
        ({"tags": {"$ne": "z"}}, True),
    ],
)
def test_operators(filter, expected):
    assert validate_filter(filter, **LIMITS) == filter
    assert matches(DOC, filter) is expected
    assert bool(MetadataTable([DOC]).mask(filter)[0]) is expected


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"missing": "x"}, False),  # a record lacking the key does not equal anything
        ({"missing": {"$ne": "x"}}, True),  # ... but is "not equal" to everything
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": {"$gt": 0}}, False),
        ({"lang": {"$gt": 1}}, False),  # a range on a string field never matches
        ({"draft": 0}, False),  # a bool is not a number
        ({"draft": {"$lt": 1}}, False),
        ({"year": "2005"}, False),  # no string/number coercion
        ({"tags": {"$gt": 0}}, False),
    ],
)
def test_missing_keys_and_type_mismatches(filter, expected):
    assert matches(DOC, filter) is expected
    assert bool(MetadataTable([DOC]).mask(filter)[0]) is expected


def test_bool_true_does_not_equal_one():
    assert not matches({"n": 1}, {"n": True})
    assert not matches({"n": True}, {"n": 1})
    assert matches({"n": True}, {"n": {"$in": [1, True]}})


@pytest.mark.parametrize(
    ("filter", "named"),
    [
        ({"year": {"$regex": "^20"}}, "unknown filter operator '$regex' at 'year'"),
        ({"$not": {"year": 1}}, "unknown filter operator '$not' at top level"),
        ({"$and": [{"a": {"$foo": 1}}]}, "'$foo' at '$and[0].a'"),
        ({"year": {"$gt": "2000"}}, "'$gt' at 'year' needs a number"),
        ({"year": {"$gt": True}}, "'$gt' at 'year' needs a number"),
        ({"year": {"$in": []}}, "'$in' at 'year' needs a non-empty list"),
        ({"year": {"$nin": "abc"}}, "'$nin' at 'year' needs a non-empty list"),
        ({"year": {"$in": [{"a": 1}]}}, "'$in' at 'year' takes strings, numbers or booleans"),
        ({"year": {"$exists": 1}}, "'$exists' at 'year' needs true or false"),
        ({"$or": []}, "'$or' needs a non-empty list"),
        ({"$and": [1]}, "'$and' items must be non-empty objects"),
        ({"year": [1, 2]}, "use '$in' for a list"),
        ({"year": None}, "'$eq' at 'year' needs a string, number or boolean"),
        ({"year": {}}, "empty condition at 'year'"),
        ({"year": {"sub": 1}}, "expected an operator such as '$eq' at 'year', got key 'sub'"),
        ({"": 1}, "non-empty strings"),
        ({"year": float("nan")}, "needs a string, number or boolean"),
    ],
)
def test_invalid_filters_name_the_problem(filter, named):
    with pytest.raises(FilterError) as raised:
        validate_filter(filter, **LIMITS)
    assert named in str(raised.value)


def test_empty_filters_mean_no_filter():
    assert validate_filter(None, **LIMITS) is None
    assert validate_filter({}, **LIMITS) is None
    with pytest.raises(FilterError, match="must be an object"):
        validate_filter(["a"], **LIMITS)  # type: ignore[arg-type]


def test_depth_and_size_limits():
    nested: dict = {"a": 1}
    for _ in range(4):
        nested = {"$and": [nested]}
    with pytest.raises(FilterError, match="deeper than 4 levels"):
        validate_filter(nested, **LIMITS)
    assert validate_filter(nested["$and"][0], **LIMITS)
    wide = {f"k{i}": i for i in range(65)}
    with pytest.raises(FilterError, match="more than 64 conditions"):
        validate_filter(wide, **LIMITS)
    assert validate_filter({f"k{i}": i for i in range(64)}, **LIMITS)


# --- property: the compiled numpy mask and the index agree with `matches` ---------------

KEYS = ["a", "b", "c", "tags"]
SCALARS = st.one_of(
    st.sampled_from([0, 1, 2, -1, 0.5, 1.0, 2.5]),
    st.booleans(),
    st.sampled_from(["x", "y", "z", "1"]),
)
VALUES = st.one_of(SCALARS, st.lists(st.sampled_from(["x", "y", "z"]), max_size=3))
RECORDS = st.lists(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4), max_size=12)
NUMBERS = st.sampled_from([-1, 0, 0.5, 1, 1.5, 2])


def _condition() -> st.SearchStrategy:
    ops = st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), SCALARS),
        st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), NUMBERS),
        st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(SCALARS, min_size=1, max_size=3)),
        st.tuples(st.just("$exists"), st.booleans()),
    )
    field = st.builds(lambda k, op: {k: {op[0]: op[1]}}, st.sampled_from(KEYS), ops)
    bare = st.builds(lambda k, v: {k: v}, st.sampled_from(KEYS), SCALARS)
    return st.one_of(field, bare)


FILTERS = st.recursive(
    _condition(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(records=RECORDS, filter=FILTERS)
def test_mask_equals_reference(records, filter):
    assert validate_filter(filter, max_depth=10, max_nodes=100) is not None
    expected = [matches(r, filter) for r in records]
    assert MetadataTable(records).mask(filter).tolist() == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(
        st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4), min_size=1, max_size=10
    ),
    filter=FILTERS,
)
def test_index_search_equals_brute_force(records, filter):
    chunks = [Chunk(f"word{i} common", {**r, "source": f"s{i}"}) for i, r in enumerate(records)]
    vectors = np.random.default_rng(0).normal(size=(len(chunks), 4))
    snapshot = Snapshot.empty().replaced(np.zeros(0, dtype=bool), chunks, vectors)
    hits = snapshot.search(
        np.ones(4), "common", k=len(chunks), filter=filter, mode="hybrid", alpha=0.5
    )
    expected = {c.id for c in chunks if matches(c.metadata, filter)}
    assert {h.chunk.id for h in hits} == expected
