"""Hypothesis strategies and settings shared by the fuzz tests (codec and public API).

The strategies lean on what breaks storage code: huge ints, NaN and infinities, NUL and
other control characters, lone surrogates, very long strings, deep nesting.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Few enough examples that every fuzz test, on all four stores, takes seconds. No example
# database: a failure prints its example, and no .hypothesis/ folder lands in the tree.
# Under CI the examples are the same on every run (derandomize): a CI run passes or fails
# on the code, never on the draw; a developer's runs keep drawing new ones.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Against a store each example enqueues and runs a job: fewer of them.
STORE_FUZZ = settings(FUZZ, max_examples=12)

SPECIAL_CHARS = ["\x00", "\x1b", "\x7f", "\r", "\n", "\u2028", "\ufeff", "\ud800", "\udfff"]

any_char = st.characters(exclude_categories=())  # every code point, lone surrogates included


def _repeat(piece: str, times: int) -> str:
    return piece * times


long_text = st.builds(
    _repeat, st.sampled_from(["x", "é", "\x00", "\ud800", "ab"]), st.integers(0, 20_000)
)
nasty_text = st.one_of(
    st.text(any_char, max_size=20),
    st.lists(st.sampled_from(SPECIAL_CHARS), min_size=1, max_size=4).map("".join),
    long_text,
)
# text a store can keep as it is: no NUL, no lone surrogate (issue 13 item 3 covers those)
clean_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20
)

BOUNDARY_INTS = [
    0,
    -1,
    10**400,
    -(10**400),
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
]
big_ints = st.one_of(
    st.integers(),
    st.sampled_from(BOUNDARY_INTS),
    st.integers(2**64, 10**300),
    st.integers(-(10**300), -(2**64)),
)
odd_floats = st.one_of(
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]),
)
# what a caller may wrongly pass where a number or text is expected
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.builds(object),
    st.decimals(allow_nan=True),
    st.timedeltas(),
    st.complex_numbers(),
)
anything = st.one_of(big_ints, odd_floats, nasty_text, wrong_types)

# -- values the codec promises to round-trip -----------------------------------------------
fixed_offsets = st.builds(
    dt.timezone,
    # whole seconds: datetime.fromisoformat (3.11) drops an offset's microseconds, and no
    # real zone has any; an offset of, say, +05:30:15 round-trips
    st.integers(-(23 * 3600 + 59 * 60), 23 * 3600 + 59 * 60).map(
        lambda seconds: dt.timedelta(seconds=seconds)
    ),
)
tzinfos = st.one_of(st.just(dt.timezone.utc), fixed_offsets, st.timezones())
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**300), 10**300),
    st.floats(),  # NaN and infinities too: the codec writes them with allow_nan
    st.text(any_char, max_size=30),
)
extra_leaves = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=tzinfos),
    st.dates(),
    st.times(),
    st.times(timezones=fixed_offsets),
    st.uuids(),
    st.decimals(),  # NaN, sNaN and infinities too: kept by their text
    st.binary(max_size=50),
)
dict_keys = st.one_of(st.text(any_char, max_size=10), st.sampled_from(["__bb__", "v"]))
round_trippable = st.recursive(
    st.one_of(json_leaves, extra_leaves),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(dict_keys, inner, max_size=4),
    ),
    max_leaves=20,
)


def assert_same(back: Any, value: Any, where: str = "value") -> None:
    """Assert `back` is `value` as the codec promises it back: the same type all the way
    down, equal values, NaN still NaN (of either sign), -0.0 still negative, a datetime's
    offset and a Decimal's exponent kept, dict keys in the same order."""
    assert type(back) is type(value), f"{where}: {type(back)} is not {type(value)}"
    if isinstance(value, float):
        if math.isnan(value):  # JSON has one NaN: its sign is not kept
            assert math.isnan(back), where
        else:
            assert back == value and math.copysign(1, back) == math.copysign(1, value), where
    elif isinstance(value, Decimal):
        assert str(back) == str(value), where
    elif isinstance(value, (dt.datetime, dt.time)):
        assert back == value and back.utcoffset() == value.utcoffset(), where
    elif isinstance(value, (list, tuple)):
        assert len(back) == len(value), where
        for i, (b, v) in enumerate(zip(back, value)):
            assert_same(b, v, f"{where}[{i}]")
    elif isinstance(value, dict):
        assert list(back) == list(value), where
        for key in value:
            assert_same(back[key], value[key], f"{where}[{key!r}]")
    else:
        assert back is value or back == value, where


def nested(depth: int, leaf: Any = None) -> Any:
    """`leaf` inside `depth` levels of lists, dicts and tuples, in turn."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 3 == 0 else {"k": value} if level % 3 == 1 else (value,)
    return value


__all__ = [
    "FUZZ",
    "STORE_FUZZ",
    "anything",
    "assert_same",
    "big_ints",
    "clean_text",
    "nasty_text",
    "nested",
    "odd_floats",
    "round_trippable",
    "wrong_types",
]
