"""The values backburner accepts: bounds every store can hold, checked at the API.

A value past them is refused with a ValueError that names it and says what fits, before
anything is stored, instead of reaching a driver (an overflow, a half-written job, an
index row PostgreSQL refuses). PostgreSQL's columns are the narrowest: `max_attempts` is
an `integer`, and a btree index entry must stay under about 2.7 kB. Imports nothing from
backburner, so any module can use it.
"""

from __future__ import annotations

import math
import re

MIN_PRIORITY = -(2**31)
"""The lowest priority: priorities are signed 32-bit integers."""

MAX_PRIORITY = 2**31 - 1
"""The highest priority."""

MAX_RETRIES = 2**31 - 2
"""The most retries: `retries + 1` attempts fit a signed 32-bit integer."""

MAX_NAME_BYTES = 255
"""The longest task or queue name, in UTF-8 bytes."""

MAX_UNIQUE_KEY_BYTES = 1024
"""The longest `unique_key`, in UTF-8 bytes (it is indexed by every store)."""

MAX_DEPTH = 400
"""How deeply lists, tuples and dicts may nest in a job's arguments or result."""

MAX_LIST = 1_000_000
"""The most jobs one listing (`backburner jobs --limit`) returns."""

MAX_OFFSET = 2**53
"""The furthest a listing may start (`backburner jobs --offset`): exact in every store."""

MAX_LOG_CAP = 2**31 - 1
"""The largest `log_lines` / `log_bytes` cap."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


def check_seconds(value: object, what: str, *, positive: bool = False) -> float:
    """`value` as seconds: a finite int or float, >= 0 (> 0 with `positive`); else
    ValueError saying so, with `what` naming the argument."""
    bound = "> 0" if positive else ">= 0"
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not is_finite(value)
        or value < 0
        or (positive and value == 0)
    ):
        raise ValueError(f"{what} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


def is_finite(value: float) -> bool:
    """math.isfinite, where an int too large for a float counts as not finite (instead of
    raising OverflowError)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_finite(value: object, what: str) -> float:
    """`value` if it is a finite int or float (not NaN or infinity), else ValueError."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not is_finite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return value


def check_int(value: object, what: str, low: int, high: int) -> int:
    """`value` if it is an int in [low, high], else ValueError naming the range."""
    if type(value) is not int or not low <= value <= high:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:40]}..."
        raise ValueError(f"{what} must be an int from {low} to {high}, got {shown}")
    return value


def check_text(value: object, what: str, max_bytes: int) -> str:
    """`value` if it is a non-empty str of at most `max_bytes` UTF-8 bytes without NUL or
    other control characters, else ValueError saying which rule it breaks."""
    shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:60]}..."
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty str, got {shown}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{what} {shown} is not valid text (a lone surrogate)") from None
    if size > max_bytes:
        raise ValueError(
            f"{what} is {size} bytes long in UTF-8; at most {max_bytes} fit every store "
            f"(got {shown}); use a shorter one, e.g. a hash of it"
        )
    if _CONTROL.search(value):
        raise ValueError(
            f"{what} {shown} contains a control character (NUL, newline, escape...); "
            "use printable characters only"
        )
    return value
