"""Flow control a task declares: how many of its jobs may run at once (`concurrency`) and
how many may start per second, minute or hour (`rate`), optionally per key.

The numbers and keys are worked out at `delay()` and stored with each job (JobRecord's
`concurrency*` and `rate_*` fields), so every store enforces them when a worker claims,
whichever worker claims and whether or not it knows the task.

Rates are a sliding window: a job starts only while fewer than N of the jobs sharing its
rate key started in the last period (1 s, 60 s or 3600 s). Every start counts, whatever
the attempt's outcome (a start handed back unrun counts too: a limit is never exceeded).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import limits

#: A callable computing a key from a job's arguments, at `delay()`.
KeyFn = Callable[..., str]

PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"\s*(\d+)\s*/\s*([smh])\s*")
MAX_LIMIT = 2**31 - 1  # both fit a signed 32-bit column


@dataclass(frozen=True)
class Rate:
    """`limit` starts per `period` seconds."""

    limit: int
    period: float


def parse_rate(text: object) -> Rate:
    """`"100/m"` -> Rate(100, 60.0). Accepts "N/s", "N/m" and "N/h" with N >= 1; anything
    else is a ValueError saying what fits."""
    found = _RATE.fullmatch(text) if isinstance(text, str) else None
    limit = int(found.group(1)) if found else 0
    if found is None or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(
            f"rate must be a str like '100/m': a whole number from 1 to {MAX_LIMIT} of starts "
            f"per second ('/s'), minute ('/m') or hour ('/h'), got {text!r}"
        )
    return Rate(limit, PERIODS[found.group(2)])


def check_concurrency(value: object) -> int | None:
    """`value` if it is None or an int from 1 to MAX_LIMIT, else ValueError."""
    if value is None:
        return None
    return limits.check_int(value, "concurrency (jobs running at once)", 1, MAX_LIMIT)


def check_key_fn(fn: object, what: str, needs: str, given: object) -> None:
    """A key callable is callable, and only given with the limit it keys."""
    if fn is None:
        return
    if not callable(fn):
        raise ValueError(f"{what} must be a callable (args, kwargs -> str), got {fn!r}")
    if given is None:
        raise ValueError(f"{what} only makes sense with {needs}; set it too")


def job_key(
    fn: KeyFn | None, default: str, what: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """The key of a job: `fn(*args, **kwargs)` (a non-empty str of at most
    limits.MAX_UNIQUE_KEY_BYTES), or `default` (the task's name) without `fn`."""
    if fn is None:
        return default
    key = fn(*args, **kwargs)
    if not isinstance(key, str):
        raise TypeError(f"{what} must return a str, got {key!r}; nothing was enqueued")
    return limits.check_text(key, f"the {what} returned", limits.MAX_UNIQUE_KEY_BYTES)
