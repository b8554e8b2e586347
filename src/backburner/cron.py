"""Cron expressions: which instants a schedule ticks at, in an IANA time zone.

The parsing and the calendar are cronsim's (https://github.com/cuu508/cronsim): it has no
dependencies, works with `zoneinfo`, and reproduces Debian cron's handling of daylight
saving time for 5-field expressions: a job at a fixed time that falls in the skipped hour
runs once, at the jump; one in the repeated hour runs once, at its first occurrence;
jobs with a wildcard minute or hour follow real time. This module adds what cronsim
lacks:

- the `@hourly` / `@daily` / ... aliases (cronsim reads 5 or 6 fields only);
- Debian's DST handling for 6-field expressions (seconds first) too. cronsim leaves a
  6-field expression out of it, so "0 30 2 * * *" in Europe/Paris would never run on
  the day the clocks go forward and would run twice on the day they go back. Here such
  an expression ticks at each instant of its 5-field form (the same fields without the
  seconds, with Debian's handling) plus each of its seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# cronsim gives up after 50 years without a match; an expression that never matches
# ("0 0 30 2 *") is refused when it is defined, so this only bounds a pathological scan
_MAX_SKIPPED = 10_000


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("Europe/Paris", "UTC"), or ValueError saying what to do."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"tz must be an IANA time zone name such as 'Europe/Paris', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or "
            "'America/New_York' (on a system without zone data, pip install tzdata)"
        ) from exc


class Cron:
    """A cron expression in a time zone; `after(ts)` gives the next tick (Unix seconds).

    5 fields (minute hour day month weekday) or 6 (second first), month and weekday
    names (`jan`, `mon`), and the aliases in ALIASES. Raises ValueError for anything else,
    and for an expression that never matches.
    """

    def __init__(self, expression: str, tz: str = "UTC") -> None:
        if not isinstance(expression, str):
            raise ValueError(f"a cron expression is a str, got {expression!r}")
        self.expression = expression
        self.tz = zone(tz)
        text = ALIASES.get(expression.strip().lower(), expression)
        fields = text.split()
        if len(fields) not in (5, 6):
            raise ValueError(
                f"bad cron expression {expression!r}: it needs 5 fields (minute hour day "
                "month weekday), 6 with seconds first, or an alias such as @daily"
            )
        self._seconds: tuple[int, ...] = (0,)
        self._expr = text
        if len(fields) == 6 and not fields[1].startswith("*") and not fields[2].startswith("*"):
            # a fixed time of day: tick at Debian's instants of the 5-field form, plus seconds
            self._seconds = tuple(sorted(_parse(text, self.tz).seconds))
            self._expr = " ".join(fields[1:])
        _parse(self._expr, self.tz)  # refuses a bad field now, not at the first tick
        try:
            self.after(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc).timestamp())
        except StopIteration:
            raise ValueError(f"cron expression {expression!r} never matches a date") from None

    def __repr__(self) -> str:
        return f"Cron({self.expression!r}, tz={self.tz.key!r})"

    def after(self, ts: float) -> float:
        """The first tick strictly after `ts` (Unix seconds)."""
        return next(self.ticks(ts))

    def ticks(self, ts: float) -> Iterator[float]:
        """Every tick strictly after `ts`, in order, as Unix seconds."""
        start = dt.datetime.fromtimestamp(ts, self.tz)
        # Debian's handling works on local wall times, so a start inside a repeated hour
        # can yield an instant before it: those (and repeats) are skipped.
        last = ts
        skipped = 0
        for local in CronSim(self._expr, start - dt.timedelta(seconds=max(self._seconds))):
            base = local.timestamp()
            for second in self._seconds:
                tick = base + second
                if tick > last:
                    last = tick
                    skipped = 0
                    yield tick
                else:
                    skipped += 1
                    if skipped > _MAX_SKIPPED:
                        return


def _parse(expression: str, tz: ZoneInfo) -> CronSim:
    try:
        return CronSim(expression, dt.datetime(2000, 1, 1, tzinfo=tz))
    except (CronSimError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"bad cron expression {expression!r}: {exc}") from None
