"""What the pages show of a job, and how: arguments behind `expose_args`, times as ages,
and history as bars.

Arguments are hidden unless the job's task says `expose_args=True`, or is a function
returning the arguments redacted (`expose_args=fn(args, kwargs) -> (args, kwargs)`): they
often hold secrets (tokens, addresses), and the dashboard is seen by more people than
the code. A search by argument text must not tell what hidden arguments hold either:
a match on a job whose arguments are hidden counts only if the text is in its id or
task name (or, redacted, in what the function shows).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import codec
from ..job import JobRecord

if TYPE_CHECKING:
    from ..app import Backburner

log = logging.getLogger(__name__)

HIDDEN = None


def arguments(bb: Backburner, record: JobRecord) -> str | None:
    """The job's arguments as indented JSON text, redacted as its task says, or None
    when they are hidden (unknown task, `expose_args` False, or a redaction that failed)."""
    task = bb.tasks.get(record.task)
    expose = task.opts.expose_args if task is not None else False
    if expose is False:
        return HIDDEN
    try:
        args, kwargs = codec.loads_plain(record.payload)
    except (ValueError, TypeError):
        return record.payload if expose is True else HIDDEN
    if expose is not True:
        try:
            args, kwargs = expose(list(args), dict(kwargs))
        except Exception:  # a hook's bug must hide the arguments, not show them
            log.exception("expose_args of task %r raised; arguments hidden", record.task)
            return HIDDEN
    return json.dumps({"args": args, "kwargs": kwargs}, indent=2, ensure_ascii=False)


def shows_match(bb: Backburner, record: JobRecord, term: str) -> bool:
    """Whether a search for `term` may list this job, which the store matched: only if
    the term is in what the page shows of it (id, task name, shown arguments). `record`
    may be light: arguments are read only for a task that redacts them."""
    if term in record.id or term in record.task:
        return True
    task = bb.tasks.get(record.task)
    expose = task.opts.expose_args if task is not None else False
    if expose is True or expose is False:
        return expose  # shown whole: the store's match is on what the page shows
    full = bb.store.get(record.id) if not record.payload else record
    shown = None if full is None else arguments(bb, full)
    return shown is not None and term in shown


def seq_arg(text: str | None) -> int:
    """A log line or audit entry number from the query string; 0 for anything else
    (ASCII digits only, and few enough for a 64-bit column)."""
    text = text or ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0


def ago(ts: float | None, now: float | None = None) -> str:
    """ "12s ago", "4m ago", "3h ago", "2d ago"; "in 4m" ahead; "-" for None."""
    if ts is None:
        return "-"
    now = time.time() if now is None else now
    delta = now - ts
    span = abs(delta)
    if span < 60:
        text = f"{span:.0f}s"
    elif span < 3600:
        text = f"{span // 60:.0f}m"
    elif span < 86400:
        text = f"{span // 3600:.0f}h"
    else:
        text = f"{span // 86400:.0f}d"
    return f"{text} ago" if delta >= 0 else f"in {text}"


def utc(ts: float | None) -> str:
    """ "2026-11-30 23:41:05 UTC", "-" for None."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its span's start, and its outcomes' counts and heights."""

    start: float
    succeeded: int
    failed: int
    other: int  # retried, cancelled, lapsed

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.other


@dataclass(frozen=True)
class Chart:
    """Bars of equal spans, oldest first, with the largest total (for scaling)."""

    title: str
    bars: list[Bar]
    span: float

    @property
    def peak(self) -> int:
        return max([b.total for b in self.bars] + [1])

    def totals(self) -> dict[str, int]:
        return {
            "succeeded": sum(b.succeeded for b in self.bars),
            "failed": sum(b.failed for b in self.bars),
            "other": sum(b.other for b in self.bars),
        }


def chart_start(now: float, count: int, span: float) -> float:
    """When the first of `count` bars of `span` seconds (aligned on the epoch, as the
    store's history buckets) ending with the one holding `now` starts."""
    return (now // span + 1 - count) * span


def chart(points: list[Any], now: float, title: str, count: int, span: float) -> Chart:
    """`count` bars of `span` seconds ending now, from history points (minute, queue,
    outcome, count) in buckets of `span` or shorter."""
    first = chart_start(now, count, span)
    cells = [[0, 0, 0] for _ in range(count)]
    for point in points:
        index = int((point.minute - first) // span)
        if 0 <= index < count:
            column = {"succeeded": 0, "failed": 1}.get(point.outcome, 2)
            cells[index][column] += point.count
    bars = [Bar(first + i * span, *cell) for i, cell in enumerate(cells)]
    return Chart(title, bars, span)
