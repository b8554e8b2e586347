"""Fuzzing the codec: what it promises to round-trip comes back the same, and anything
else is refused with a TypeError that says where the value sits, never another exception."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import math
import pathlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backburner import codec

from .fuzz import FUZZ, assert_same, nested, round_trippable


class Shade(enum.Enum):
    """An enum: JSON would store its value and lose the type."""

    DARK = 1


class Name(str):
    """A str subclass: JSON would give back a plain str."""


@FUZZ
@given(round_trippable)
def test_every_supported_value_round_trips_with_its_type(value: Any) -> None:
    assert_same(codec.loads(codec.dumps(value)), value)


@FUZZ
@given(st.text(st.characters(exclude_categories=())))
def test_any_text_round_trips_lone_surrogates_and_nul_included(text: str) -> None:
    stored = codec.dumps({text: text})
    assert stored.isascii()  # escaped: every store can keep it, whatever the text
    assert codec.loads(stored) == {text: text}


@FUZZ
@given(st.sampled_from([math.nan, math.inf, -math.inf, -0.0]))
def test_non_finite_floats_round_trip_as_floats(value: float) -> None:
    # the codec writes NaN and infinities (allow_nan): they come back as they went in
    assert_same(codec.loads(codec.dumps([value])), [value])


def _view(data: bytes) -> memoryview:
    """A memoryview of `data`: bytes-like, but not bytes."""
    return memoryview(data)


unsupported_leaves = st.one_of(
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.integers(), max_size=3),
    st.builds(object),
    st.binary(max_size=5).map(bytearray),
    st.just(Shade.DARK),
    st.complex_numbers(),
    st.text(max_size=5).map(Name),
    st.timedeltas(),
    st.just(pathlib.Path("/tmp")),
    st.just(range(3)),
    st.just(...),
    st.just(len),
    st.just(int),
    st.just(collections.OrderedDict(a=1)),
    st.binary(max_size=3).map(_view),
)
bad_keys = st.one_of(
    st.integers(), st.none(), st.booleans(), st.floats(), st.tuples(st.integers()), st.binary()
)


@st.composite
def misplaced(draw: st.DrawFn) -> tuple[Any, list[str | int], Any, bool]:
    """A value with one thing the codec cannot store somewhere inside it, among values it
    can store: (value, the path to the culprit, the culprit, whether it is a dict key)."""
    is_key = draw(st.booleans())
    culprit = draw(bad_keys if is_key else unsupported_leaves)
    value: Any = {culprit: 1} if is_key else culprit
    path: list[str | int] = []
    for _ in range(draw(st.integers(0, 4))):
        siblings = draw(st.lists(round_trippable, max_size=3))
        at = draw(st.integers(0, len(siblings)))
        kind = draw(st.sampled_from(["list", "tuple", "dict"]))
        if kind == "dict":
            key = draw(st.text(max_size=5))
            items = [(f"{key}~{i}", s) for i, s in enumerate(siblings)]
            items.insert(at, (key, value))
            value = dict(items)
            path.insert(0, key)
        else:
            siblings.insert(at, value)
            value = siblings if kind == "list" else tuple(siblings)
            path.insert(0, at)
    return value, path, culprit, is_key


@FUZZ
@given(misplaced())
def test_what_cannot_round_trip_raises_type_error_naming_its_place(
    case: tuple[Any, list[str | int], Any, bool],
) -> None:
    value, path, culprit, is_key = case
    with pytest.raises(TypeError) as info:
        codec.dumps(value)
    where = "value" + "".join(f"[{step!r}]" for step in path)
    message = str(info.value)
    assert message.startswith(f"a dict key in {where}" if is_key else where), message
    assert type(culprit).__name__ in message


@FUZZ
@given(st.integers(1, 100))
def test_moderate_nesting_round_trips(depth: int) -> None:
    value = nested(depth, "leaf")
    assert_same(codec.loads(codec.dumps(value)), value)


@pytest.mark.parametrize("depth", [1_000, 20_000, 100_000])
def test_deep_nesting_round_trips_or_raises_type_error(depth: int) -> None:
    value = nested(depth, "leaf")
    try:
        text = codec.dumps(value)
    except TypeError as exc:
        assert "value" in str(exc)
        return
    assert_same(codec.loads(text), value)


@FUZZ
@given(st.integers(4300, 10_000).map(lambda digits: 10**digits))
def test_huge_ints_round_trip_or_raise_type_error(value: int) -> None:
    try:
        text = codec.dumps({"n": value})
    except TypeError as exc:
        assert "value['n']" in str(exc)
        return
    assert codec.loads(text) == {"n": value}


def test_fuzz_helpers_nest_as_they_say() -> None:
    assert nested(3, 1) == ({"k": [1]},)
    assert_same(codec.loads(codec.dumps(dt.date(2020, 1, 2))), dt.date(2020, 1, 2))
