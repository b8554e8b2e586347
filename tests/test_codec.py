"""The codec: what round-trips, and what is refused before anything is stored."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import pytest

from backburner import codec

ROUND_TRIPS: list[Any] = [
    None,
    True,
    0,
    -7,
    2**70,
    1.5,
    "",
    "héllo ✓",
    [1, [2, [3]]],
    {"a": {"b": [None]}},
    dt.datetime(2026, 11, 29, 10, 0, 0, 123456),
    dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    dt.date(1999, 12, 31),
    dt.time(23, 59, 1, 5),
    dt.time(1, 2, tzinfo=dt.timezone.utc),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Decimal("1.10"),
    Decimal("-1e-30"),
    b"\x00\xffbinary",
    b"",
    (1, "two", (3.0,)),
    (),
    {"__bb__": "looks like a tag", "v": 1},
    {"__bb__": 1},
    [{"when": dt.date(2020, 1, 1), "ids": (uuid.UUID(int=1),)}],
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=repr)
def test_round_trip_keeps_value_and_type(value: Any) -> None:
    back = codec.loads(codec.dumps(value))
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, dt.datetime):
        assert back.utcoffset() == value.utcoffset()


class Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "where", "type_name"),
    [
        ({1, 2}, "value", "set"),
        ({"a": [1, frozenset()]}, "value['a'][1]", "frozenset"),
        ({1: "int key"}, "a dict key in value", "int"),
        (Color.RED, "value", "Color"),
        (object(), "value", "object"),
        ([bytearray(b"x")], "value[0]", "bytearray"),
        (lambda: 1, "value", "function"),
    ],
)
def test_what_cannot_round_trip_is_refused_with_its_place(
    value: Any, where: str, type_name: str
) -> None:
    with pytest.raises(TypeError) as info:
        codec.dumps(value)
    message = str(info.value)
    assert message.startswith(where)
    assert type_name in message


def test_unknown_tag_from_a_newer_version_is_an_error() -> None:
    with pytest.raises(ValueError, match="newer backburner"):
        codec.loads('{"__bb__":"hologram","v":1}')


class Level(enum.IntEnum):
    HIGH = 2


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        (("a", 1, 2.5, True, None), {}),
        ((1,), {"k": "v", "n": None}),
        ((), {"__bb__": "a kwarg named like the tag"}),
        (((1, 2), [3]), {}),  # a tuple is tagged
        ((dt.date(2026, 1, 1),), {"when": uuid.UUID(int=7)}),
    ],
    ids=repr,
)
def test_dumps_call_is_dumps_of_args_and_kwargs(args: tuple[Any, ...], kwargs: Any) -> None:
    text = codec.dumps_call(args, kwargs)
    assert text == codec.dumps([list(args), kwargs])
    assert codec.loads(text) == [list(args), kwargs]


@pytest.mark.parametrize("odd", [Level.HIGH, {1, 2}, object()], ids=repr)
def test_dumps_call_refuses_what_dumps_refuses(odd: Any) -> None:
    with pytest.raises(codec.EncodeError):
        codec.dumps_call((1, odd), {})
    with pytest.raises(codec.EncodeError):
        codec.dumps_call((), {"k": odd})


def test_loads_plain_shows_tagged_values_as_their_plain_json() -> None:
    value = {
        "when": dt.datetime(2024, 5, 1, 12, 0),
        "day": dt.date(2024, 5, 1),
        "id": uuid.UUID(int=1),
        "price": Decimal("1.10"),
        "raw": b"\x00\x01",
        "pair": (1, (2,)),
        "escaped": {"__bb__": "mine", "v": [1]},
        "plain": [None, True, "x"],
    }
    assert codec.loads_plain(codec.dumps(value)) == {
        "when": "2024-05-01T12:00:00",
        "day": "2024-05-01",
        "id": "00000000-0000-0000-0000-000000000001",
        "price": "1.10",
        "raw": "AAE=",
        "pair": [1, [2]],
        "escaped": {"__bb__": "mine", "v": [1]},
        "plain": [None, True, "x"],
    }


def test_loads_plain_shows_a_tag_it_does_not_know_instead_of_failing() -> None:
    assert codec.loads_plain('{"__bb__": "future", "v": [1, 2]}') == [1, 2]


def test_nesting_past_the_limit_is_a_type_error_naming_where() -> None:
    from backburner.limits import MAX_DEPTH

    deep: list[Any] = []
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    assert codec.loads(codec.dumps(deep)) == deep
    deeper = deep
    for _ in range(5000):  # past Python's recursion limit: still a TypeError, not a crash
        deeper = [deeper]
    for value in ([deep], {"k": (deep,)}, deeper):
        with pytest.raises(TypeError, match=f"more than {MAX_DEPTH} levels deep"):
            codec.dumps(value)
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(TypeError, match="contains itself"):
        codec.dumps(looped)
