"""Schedules: what `@bb.periodic` declares, checked when it is declared.

A Schedule says when a task runs (a cron expression in a time zone, or every N seconds),
with which arguments and options, and what to do with ticks missed while no worker ran
(`misfire`, within `catchup`). The worker's scheduler (worker/scheduler.py) turns its
ticks into jobs, one per tick, whatever the number of workers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Protocol, TypeVar, overload

from . import limits
from .cron import Cron
from .job import JobRecord, JobStatus
from .task import Task

if TYPE_CHECKING:
    from .app import Backburner

P = ParamSpec("P")
R = TypeVar("R")

Misfire = Literal["latest", "skip", "all"]
MISFIRES: tuple[str, ...] = ("latest", "skip", "all")
CATCHUP = 3600.0
"""Seconds back a missed tick may still run (misfire "latest" or "all")."""
MIN_EVERY = 0.1
"""The shortest `every=`, in seconds."""


class PeriodicDecorator(Protocol):
    """What `bb.periodic(...)` returns: applied to a function or a Task, it gives the Task."""

    @overload
    def __call__(self, fn: Task[P, R], /) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    def __call__(self, fn: Any, /) -> Any: ...


@dataclass(frozen=True, eq=False)
class Schedule:
    """One schedule of a task: `bb.schedules[name]`.

    `definition` ("cron:<expression>@<tz>" or "every:<seconds>") is what the store keeps
    with each tick: when a deploy changes it, the newest workers' definition takes over
    (see the README, "Periodic jobs").
    """

    name: str
    task: Task[Any, Any]
    cron: str | None
    every: float | None
    tz: str
    misfire: Misfire
    catchup: float
    overlap: bool
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)
    _cron: Cron | None = field(default=None, repr=False)
    _payload: str = field(default="", repr=False)

    @property
    def definition(self) -> str:
        """When it ticks, as text: "cron:*/5 * * * *@Europe/Paris" or "every:30"."""
        if self._cron is not None:
            return f"cron:{self.cron}@{self.tz}"
        return f"every:{self.every!r}"

    @property
    def expression(self) -> str:
        """The cron expression, or "every 30s"."""
        return self.cron if self.cron is not None else f"every {self.every:g}s"

    def after(self, ts: float) -> float:
        """The first tick strictly after `ts` (Unix seconds)."""
        if self._cron is not None:
            return self._cron.after(ts)
        assert self.every is not None
        return _every_after(self.every, ts)

    def ticks(self, after: float, until: float) -> Iterator[float]:
        """The ticks in (`after`, `until`], in order."""
        if self._cron is not None:
            for tick in self._cron.ticks(after):
                if tick > until:
                    return
                yield tick
            return
        tick = self.after(after)
        while tick <= until:
            yield tick
            tick = self.after(tick)

    def next_run(self, after: dt.datetime | float | None = None) -> dt.datetime:
        """The next tick after `after` (an aware datetime or Unix seconds; default now), as
        an aware datetime in the schedule's time zone (UTC for `every=`)."""
        if after is None:
            ts = dt.datetime.now(dt.timezone.utc).timestamp()
        elif isinstance(after, dt.datetime):
            if after.tzinfo is None:
                raise ValueError("next_run(after=...) needs an aware datetime or a timestamp")
            ts = after.timestamp()
        else:
            ts = float(after)
        zone = self._cron.tz if self._cron is not None else dt.timezone.utc
        return dt.datetime.fromtimestamp(self.after(ts), zone)

    def job_record(self, tick: float, now: float) -> JobRecord:
        """The job of `tick`, as the scheduler stores it: due at the tick, tagged with the
        schedule's name and the tick."""
        task = self.task.options(**self.options) if self.options else self.task
        flow = task._flow_control(self.args, self.kwargs)  # its limits, keyed as delay() does
        record = task.record(self._payload, tick, flow=flow)
        return replace(
            record,
            status=JobStatus.QUEUED,
            created_at=now,
            schedule=self.name,
            scheduled_for=tick,
        )


def _every_after(every: float, ts: float) -> float:
    """Ticks of `every=` fall on multiples of it since the Unix epoch, so every worker
    computes the same instants; in whole microseconds, so floats never drift."""
    step = round(every * 1_000_000)
    micros = math.floor(ts * 1_000_000)
    return (micros // step + 1) * step / 1_000_000


def define(
    bb: Backburner,
    target: Callable[..., Any],
    cron: str | None,
    *,
    every: float | dt.timedelta | None,
    tz: str | None,
    misfire: str,
    catchup: float | dt.timedelta,
    overlap: bool,
    name: str | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
    task_options: Mapping[str, Any],
) -> Task[Any, Any]:
    """What `bb.periodic(...)(target)` does: register `target` as a task unless it is one,
    then add its schedule to `bb.schedules`. Every check runs before anything is added."""
    parsed, seconds = _timing(cron, every, tz)
    if misfire not in MISFIRES:
        raise ValueError(f"misfire must be one of {', '.join(MISFIRES)}; got {misfire!r}")
    window = catchup.total_seconds() if isinstance(catchup, dt.timedelta) else catchup
    window = limits.check_seconds(window, "catchup")
    if not isinstance(overlap, bool):
        raise ValueError(f"overlap must be True or False, got {overlap!r}")
    if isinstance(target, Task):
        if target.bb is not bb:
            raise ValueError(f"{target.name} is a task of another Backburner")
        task: Task[Any, Any] = target
        schedule_name = name or task.name
        options = dict(task_options)
        task.options(**options)  # unknown options fail here (TypeError)
    else:
        schedule_name = name or ""
        options = {}
    if schedule_name:
        _check_name(bb, schedule_name)
    if not isinstance(target, Task):
        task = bb.task(name=name, **task_options)(target)
        schedule_name = schedule_name or task.name
        if schedule_name in bb.schedules:  # the task's default name is a schedule's already
            del bb.tasks[task.name]
            _check_name(bb, schedule_name)
    call_args, call_kwargs = tuple(args), dict(kwargs or {})
    payload = task.encode_arguments(call_args, call_kwargs)  # TypeError, naming the argument
    schedule = Schedule(
        name=schedule_name,
        task=task,
        cron=cron,
        every=seconds,
        tz=parsed.tz.key if parsed is not None else "UTC",
        misfire=misfire,  # type: ignore[arg-type]  # checked above
        catchup=window,
        overlap=overlap,
        args=call_args,
        kwargs=call_kwargs,
        options=options,
        _cron=parsed,
        _payload=payload,
    )
    bb.schedules[schedule_name] = schedule
    return task


def _timing(
    cron: str | None, every: float | dt.timedelta | None, tz: str | None
) -> tuple[Cron | None, float | None]:
    if (cron is None) == (every is None):
        raise ValueError(
            "bb.periodic() needs a cron expression ('*/15 * * * *') or every=seconds, "
            "exactly one of them"
        )
    if cron is not None:
        return Cron(cron, "UTC" if tz is None else tz), None
    if tz is not None:
        raise ValueError(
            "tz applies to cron expressions; every= ticks at fixed intervals whatever the "
            "time zone, so leave tz out"
        )
    seconds = every.total_seconds() if isinstance(every, dt.timedelta) else every
    seconds = limits.check_seconds(seconds, "every", positive=True)
    if seconds < MIN_EVERY:
        raise ValueError(f"every must be at least {MIN_EVERY} seconds, got {seconds!r}")
    return None, seconds


def _check_name(bb: Backburner, name: str) -> None:
    limits.check_text(name, "schedule name", limits.MAX_NAME_BYTES)
    if name in bb.schedules:
        raise ValueError(
            f"a schedule named {name!r} already exists; give this one another name with "
            "bb.periodic(..., name='...')"
        )
