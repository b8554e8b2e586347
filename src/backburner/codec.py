"""JSON codec for job arguments and results.

Plain JSON types pass through; datetime (naive and aware), date, time, UUID, Decimal,
bytes and tuple are tagged so they come back as the same type. Anything else, and
anything JSON would silently change (a dict with non-str keys, a set, an enum), raises
`EncodeError` (a TypeError) naming where the value sits, before anything is stored.
`storable_text` escapes the error and progress text no store could keep as it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .limits import MAX_DEPTH

TAG = "__bb__"

_PLAIN = (str, int, float, bool, type(None))
# Python refuses to write an int of more than 4300 digits as text (ValueError); well past
# any real count or id, such an int is refused here as a TypeError naming its place
_MAX_INT_BITS = 14_000


class EncodeError(TypeError):
    """A value cannot round-trip through backburner's JSON codec."""

    def __init__(self, value: object, path: list[str | int]) -> None:
        self.value = value
        self.path = path  # outermost first once the error has unwound
        self.root = "value"
        self.is_key = False
        self.too_deep = False
        self.too_long = False  # an int of more than _MAX_INT_BITS bits
        super().__init__()

    def __str__(self) -> str:
        if self.too_deep:
            shown = "".join(f"[{p!r}]" for p in self.path[:8])
            return (
                f"{self.root}{shown}... nests lists, tuples or dicts more than {MAX_DEPTH} "
                "levels deep (or contains itself), which backburner does not store; pass a "
                "flatter structure"
            )
        where = self.root + "".join(f"[{p!r}]" for p in self.path)
        if self.too_long:
            return (
                f"{where} is an int of more than 4,000 digits, which JSON text cannot hold "
                "here; pass it as a str"
            )
        if self.is_key:
            where = f"a dict key in {where}"
        kind = type(self.value)
        name = (
            f"{kind.__module__}.{kind.__qualname__}"
            if kind.__module__ != "builtins"
            else kind.__name__
        )
        hint = _HINTS.get(
            kind,
            "dict keys must be str"
            if self.is_key
            else "convert it to str, int, float, bool, None, list, dict or a supported type",
        )
        return (
            f"{where} has type {name}, which backburner cannot store as JSON "
            f"({hint}; supported extras: datetime, date, time, UUID, Decimal, bytes, tuple)"
        )


_HINTS: dict[type, str] = {
    set: "pass a sorted list instead",
    frozenset: "pass a sorted list instead",
    bytearray: "pass bytes(...) instead",
}


def _tagged(kind: str, value: Any) -> dict[str, Any]:
    return {TAG: kind, "v": value}


def _check_depth(value: object, depth: int) -> None:
    # deep nesting would end in RecursionError here or in json; a cycle never ends
    if depth > MAX_DEPTH:
        error = EncodeError(value, [])
        error.too_deep = True
        raise error


def _encode_dict(value: dict[Any, Any], depth: int) -> Any:
    _check_depth(value, depth)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            error = EncodeError(key, [])
            error.is_key = True
            raise error
        try:
            out[key] = _encode(item, depth + 1)
        except EncodeError as exc:
            exc.path.insert(0, key)
            raise
    if TAG in out:  # a user dict that looks like our tag must not be mistaken for one
        return _tagged("dict", list(out.items()))
    return out


def _encode_seq(value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
    _check_depth(value, depth)
    out = []
    for index, item in enumerate(value):
        try:
            out.append(_encode(item, depth + 1))
        except EncodeError as exc:
            exc.path.insert(0, index)
            raise
    return out


# each takes the value and its nesting depth (what holds it: 1 for an outermost value)
_ENCODERS: dict[type, Callable[[Any, int], Any]] = {
    dt.datetime: lambda v, _: _tagged("datetime", v.isoformat()),
    dt.date: lambda v, _: _tagged("date", v.isoformat()),
    dt.time: lambda v, _: _tagged("time", v.isoformat()),
    uuid.UUID: lambda v, _: _tagged("uuid", str(v)),
    Decimal: lambda v, _: _tagged("decimal", str(v)),
    bytes: lambda v, _: _tagged("bytes", base64.b64encode(v).decode("ascii")),
    tuple: lambda v, depth: _tagged("tuple", _encode_seq(v, depth)),
    dict: _encode_dict,
    list: _encode_seq,
}


def _encode(value: Any, depth: int = 1) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        if kind is int and value.bit_length() > _MAX_INT_BITS:
            error = EncodeError(value, [])
            error.too_long = True
            raise error
        return value
    encoder = _ENCODERS.get(kind)
    if encoder is None:
        raise EncodeError(value, [])
    return encoder(value, depth)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": Decimal,
    "bytes": lambda v: base64.b64decode(v),
    "tuple": tuple,
    "dict": dict,
}


def _decode_hook(obj: dict[str, Any]) -> Any:
    kind = obj.get(TAG)
    if kind is None or len(obj) != 2:
        return obj
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ValueError(f"unknown codec tag {kind!r}: written by a newer backburner?")
    return decoder(obj["v"])


_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=True).encode
_loads = json.JSONDecoder(object_hook=_decode_hook).decode


def dumps(value: Any) -> str:
    """Encode `value` to JSON text; raises EncodeError (a TypeError) for what cannot round-trip."""
    if value is None:  # what most tasks return: 1 us less per job than the encoder
        return "null"
    return _dumps(_encode(value))


def dumps_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Encode a call's arguments as `[args, kwargs]`, as dumps([list(args), kwargs])."""
    plain = _PLAIN
    if (
        all(type(a) in plain for a in args)
        and all(type(v) in plain for v in kwargs.values())
        and TAG not in kwargs
    ):
        try:
            return _dumps([list(args), kwargs])  # nothing to check or tag: JSON as it is
        except ValueError:
            pass  # an int too long for JSON text: the full check below names it
    return dumps([list(args), kwargs])


def loads(text: str) -> Any:
    """Decode JSON text written by `dumps`, restoring the tagged types."""
    return _loads(text)


def _plain_hook(obj: dict[str, Any]) -> Any:
    if len(obj) != 2 or TAG not in obj or "v" not in obj:
        return obj
    # hooks run innermost first, so the pairs of an escaped dict are already plain
    return dict(obj["v"]) if obj[TAG] == "dict" else obj["v"]


_loads_plain = json.JSONDecoder(object_hook=_plain_hook).decode


def loads_plain(text: str) -> Any:
    """Decode JSON text written by `dumps` into plain JSON values, for clients that are not
    Python (the job API): a tagged value becomes its JSON form (datetime, date, time, UUID
    and Decimal as their text, bytes as base64 text, a tuple as a list). Never raises for
    a tag it does not know: it shows that value's JSON form too."""
    return _loads_plain(text)


def storable_text(text: str) -> str:
    """`text` as every store can keep it: a lone surrogate (a non-UTF-8 file name in an
    exception message) becomes its backslash escape (`\\udcff`), as UTF-8 cannot encode
    it, and a NUL becomes `\\x00`, which PostgreSQL text refuses. Other text is unchanged.
    Error and progress text go through here before any store sees them."""
    text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
