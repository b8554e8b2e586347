"""Task[P, R]: a function registered with a Backburner, callable inline or as a job."""

from __future__ import annotations

import datetime as dt
import inspect
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from . import codec, defaults, limits, throttle
from .flows import Call, submit
from .job import Job, JobRecord, new_id, pending_status
from .throttle import KeyFn

if TYPE_CHECKING:
    from .app import Backburner

P = ParamSpec("P")
R = TypeVar("R")
Redact = Callable[[list[Any], dict[str, Any]], tuple[list[Any], dict[str, Any]]]
"""`expose_args=fn`: the arguments as the dashboard may show them, from the stored ones
(plain JSON values)."""


@dataclass(frozen=True)
class TaskOptions:
    """How jobs of a task are run. Every field can be overridden per call with `options()`.

    `queue`, `retries` and `retry_backoff` left None follow the Backburner's settings at
    enqueue time, so config applied after the task was declared (Flask's init_app) counts.
    """

    name: str
    queue: str | None = None
    priority: int = defaults.PRIORITY
    retries: int | None = None
    timeout: float | None = None
    retry_backoff: float | None = None
    unique_key: str | None = None
    expose_result: bool = False
    expose_error: bool = False  # the job API shows the error's first line, not just its type
    # the dashboard shows the arguments (True), none (False), or what this returns from
    # (args, kwargs): a redaction hook for secrets
    expose_args: bool | Redact = False
    log_lines: int | None = None  # output kept per attempt (None: the Backburner's; 0: none)
    log_bytes: int | None = None
    depends_on: tuple[str, ...] = ()  # ids of jobs that must succeed first (per call only)
    concurrency: int | None = None
    concurrency_key: KeyFn | None = None
    rate: str | None = None
    rate_key: KeyFn | None = None

    def __post_init__(self) -> None:
        _check_options(self)


def _check_options(o: TaskOptions) -> None:
    limits.check_text(o.name, "task name", limits.MAX_NAME_BYTES)
    if o.queue is not None:
        limits.check_text(o.queue, "queue", limits.MAX_NAME_BYTES)
    if type(o.priority) is not int:
        raise ValueError(f"priority must be an int (higher runs first), got {o.priority!r}")
    limits.check_int(o.priority, "priority", limits.MIN_PRIORITY, limits.MAX_PRIORITY)
    if o.retries is not None:
        limits.check_int(o.retries, "retries", 0, limits.MAX_RETRIES)
    if o.timeout is not None:
        limits.check_seconds(o.timeout, "timeout (None for no limit)", positive=True)
    if o.retry_backoff is not None:
        limits.check_seconds(o.retry_backoff, "retry_backoff")
    for cap in ("log_lines", "log_bytes"):
        value = getattr(o, cap)
        if value is not None and (type(value) is not int or not 0 <= value <= limits.MAX_LOG_CAP):
            raise ValueError(
                f"{cap} must be an int from 0 (capture off) to {limits.MAX_LOG_CAP}, got {value!r}"
            )
    _check_expose_args(o.expose_args)
    if o.unique_key is not None:
        if not isinstance(o.unique_key, str):
            raise ValueError(f"unique_key must be a str or None, got {o.unique_key!r}")
        limits.check_text(o.unique_key, "unique_key", limits.MAX_UNIQUE_KEY_BYTES)
    if not isinstance(o.depends_on, tuple) or not all(isinstance(d, str) for d in o.depends_on):
        raise ValueError(f"depends_on must be a list of jobs or job ids, got {o.depends_on!r}")
    throttle.check_concurrency(o.concurrency)
    if o.rate is not None:
        throttle.parse_rate(o.rate)
    throttle.check_key_fn(o.concurrency_key, "concurrency_key", "concurrency=N", o.concurrency)
    throttle.check_key_fn(o.rate_key, "rate_key", "rate='N/s|m|h'", o.rate)


def _check_expose_args(value: object) -> None:
    if not isinstance(value, bool) and not callable(value):
        raise ValueError(
            "expose_args must be True, False, or a function (args, kwargs) -> (args, kwargs) "
            f"that redacts them; got {value!r}"
        )


def _dependency_ids(value: Any) -> tuple[str, ...]:
    """`options(depends_on=...)` as ids: Jobs or ids, in order, each once."""
    if isinstance(value, (str, Job)) or not isinstance(value, (list, tuple)):
        raise ValueError(
            f"depends_on must be a list of jobs or job ids, got {value!r} "
            "(one dependency: depends_on=[job])"
        )
    ids = []
    for item in value:
        job_id = item.id if isinstance(item, Job) else item
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"depends_on takes jobs or job ids, got {item!r}")
        limits.check_text(job_id, "depends_on id", limits.MAX_NAME_BYTES)
        ids.append(job_id)
    return tuple(dict.fromkeys(ids))


OPTION_NAMES = frozenset(f.name for f in fields(TaskOptions))
# read from the worker's registry, never from the job: options() cannot change them
FIXED_OPTIONS = frozenset({"name", "log_lines", "log_bytes", "expose_args"})


class Task(Generic[P, R]):
    """A registered task. Calling it runs the function inline; `delay()` makes a job."""

    def __init__(self, bb: Backburner, fn: Callable[P, R], options: TaskOptions) -> None:
        self.bb = bb
        self.fn = fn
        self.opts = options
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self._signature = inspect.signature(fn)
        params = list(self._signature.parameters.values())
        self._positional = [
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        # A call with positional arguments only fits a function taking nothing else
        # exactly when their count is in this range: no need for Signature.bind().
        self._arity: tuple[int, int] | None = None
        if len(self._positional) == len(params):
            required = sum(1 for p in params if p.default is p.empty)
            self._arity = (required, len(params))

    @property
    def name(self) -> str:
        return self.opts.name

    @property
    def queue(self) -> str:
        """The queue its jobs go to (the Backburner's default unless set)."""
        return self.opts.queue if self.opts.queue is not None else self.bb.settings.queue

    @property
    def retries(self) -> int:
        """How many times a failed job is retried (the Backburner's default unless set)."""
        return self.opts.retries if self.opts.retries is not None else self.bb.settings.retries

    @property
    def retry_backoff(self) -> float:
        """Base backoff in seconds (the Backburner's default unless set)."""
        backoff = self.opts.retry_backoff
        return float(backoff if backoff is not None else self.bb.settings.retry_backoff)

    @property
    def log_caps(self) -> tuple[int, int]:
        """(lines, bytes) of output kept per attempt (the Backburner's unless set); a 0
        in either means none is captured."""
        settings = self.bb.settings
        lines = self.opts.log_lines
        size = self.opts.log_bytes
        return (
            settings.log_lines if lines is None else lines,
            settings.log_bytes if size is None else size,
        )

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here and now, like a plain call."""
        return self.fn(*args, **kwargs)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Enqueue a job to run as soon as a worker is free. Persisted before returning.

        Raises TypeError if the arguments do not fit the function or cannot be stored.
        """
        return self._enqueue(args, kwargs, None)

    def schedule(
        self,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        delay: float | dt.timedelta | None = None,
        at: float | dt.datetime | None = None,
    ) -> Job:
        """Enqueue a job due after `delay` (seconds or timedelta) or at `at` (a Unix
        timestamp or an aware datetime). Give exactly one of them."""
        return self._enqueue(tuple(args), dict(kwargs or {}), _due_time(delay, at))

    def options(self, **overrides: Any) -> Task[P, R]:
        """A copy of this task with some options changed for the jobs it makes, e.g.
        `send.options(queue="high", unique_key="user:7").delay(...)`."""
        unknown = set(overrides) - (OPTION_NAMES - FIXED_OPTIONS)
        if unknown:
            raise TypeError(
                f"{self.name}.options() got unknown or fixed option(s) {sorted(unknown)}; "
                f"valid: {sorted(OPTION_NAMES - FIXED_OPTIONS)}"
            )
        if "depends_on" in overrides:
            overrides["depends_on"] = _dependency_ids(overrides["depends_on"])
        copy = Task.__new__(Task)
        copy.__dict__.update(self.__dict__)
        copy.opts = replace(self.opts, **overrides)
        return copy

    def s(self, *args: P.args, **kwargs: P.kwargs) -> Call:
        """A `Call` of this task with these arguments and this task's options, not stored
        yet: for `bb.enqueue_many`, `bb.chain` and `bb.group`. The arguments are checked
        and encoded now (TypeError, as `delay()` raises)."""
        return self._call(args, kwargs)

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        misfit = self._misfit(args, kwargs)
        # the `then` of a group gets the results as its first argument, added later
        then_misfit = self._then_misfit(args, kwargs)
        if misfit is not None and then_misfit is not None:
            raise TypeError(f"{self.name}.s(): {misfit}")
        # a call that fits only as a group's `then` works its keys out when it is stored
        flow = self._flow_control(args, kwargs) if misfit is None else None
        encoded = self._encode(args, kwargs)
        return Call(self, encoded, misfit, then_misfit, flow, args, kwargs)

    def map(self, items: Iterable[Sequence[Any] | Mapping[str, Any]]) -> list[Job]:
        """Enqueue one job per item, all in one transaction or none (`bb.enqueue_many`).
        An item is a tuple (or list) of positional arguments, or a dict of keyword
        arguments: `add.map([(1, 2), (3, 4)])`, `send.map([{"to": a}, {"to": b}])`.
        Returns the jobs in order."""
        calls = []
        for item in items:
            if isinstance(item, Mapping):
                calls.append(self._call((), dict(item)))
            elif isinstance(item, (tuple, list)):
                calls.append(self._call(tuple(item), {}))
            else:
                raise TypeError(
                    f"{self.name}.map(): each item is a tuple of arguments or a dict of "
                    f"keyword arguments, got {item!r}; a single argument: ({item!r},)"
                )
        return self.bb.enqueue_many(calls)

    # -- enqueueing --------------------------------------------------------------------
    def encode_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Check the arguments against the function and encode them, or raise TypeError."""
        misfit = self._misfit(args, kwargs)
        if misfit is not None:
            raise TypeError(f"{self.name}.delay(): {misfit}")
        return self._encode(args, kwargs)

    def _misfit(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
        """Why the function cannot take these arguments, or None when it can."""
        arity = self._arity
        if kwargs or arity is None or not arity[0] <= len(args) <= arity[1]:
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as exc:
                return str(exc)
        return None

    def _then_misfit(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
        """Why the function cannot take a group's results before these arguments; without
        Signature.bind() when the count of positional arguments tells (bulk calls)."""
        if self._arity is not None and not kwargs:
            low, high = self._arity
            if len(args) + 1 > high:
                return "too many positional arguments"
            if len(args) + 1 < low:
                return "missing a required argument"
            return None
        return self._misfit((None, *args), kwargs)

    def _encode(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            return codec.dumps_call(args, kwargs)
        except codec.EncodeError as exc:
            kind, where, *rest = exc.path
            if kind == 0:
                assert isinstance(where, int)
                name = self._positional[where] if where < len(self._positional) else "*args"
                exc.root = f"argument {name!r} (position {where + 1})"
            else:
                exc.root = f"argument {where!r}"
            exc.path = rest
            raise TypeError(f"{self.name}.delay(): {exc}; nothing was enqueued") from None

    def _enqueue(self, args: tuple[Any, ...], kwargs: dict[str, Any], run_at: float | None) -> Job:
        payload = self.encode_arguments(args, kwargs)
        record = self.record(payload, run_at, flow=self._flow_control(args, kwargs))
        [job] = submit(self.bb, [record])  # stored, announced (and run, if eager) as a bulk job
        return job

    def record(
        self,
        payload: str,
        run_at: float | None = None,
        depends_on: tuple[str, ...] = (),
        takes_results: bool = False,
        flow: Mapping[str, Any] | None = None,
    ) -> JobRecord:
        """A new job of this task with `payload` (codec JSON of its arguments), due at
        `run_at` (None: now), depending on `depends_on` after those of its options, with
        `flow` (its limits and their keys, from `_flow_control`)."""
        now = time.time()
        fields = self.record_fields()
        if depends_on:
            fields["depends_on"] = tuple(dict.fromkeys(fields["depends_on"] + depends_on))
        return JobRecord.fresh(
            id=new_id(),
            payload=payload,
            status=pending_status(run_at or now, now),
            run_at=now if run_at is None else run_at,
            created_at=now,
            takes_results=takes_results,
            **fields,
            **(flow or {}),
        )

    def record_fields(self) -> dict[str, Any]:
        """The JobRecord fields every job this task makes now shares (its options, with
        the Backburner's defaults filled in)."""
        o = self.opts
        return {
            "task": o.name,
            "queue": self.queue,
            "priority": o.priority,
            "max_attempts": self.retries + 1,
            "retry_backoff": self.retry_backoff,
            "timeout": None if o.timeout is None else float(o.timeout),
            "unique_key": o.unique_key,
            "depends_on": o.depends_on,
        }

    def _flow_control(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The JobRecord fields of this task's concurrency and rate limits, keys worked out
        from the arguments (no fields, so nothing to check at claim, without limits)."""
        o = self.opts
        fields: dict[str, Any] = {}
        if o.concurrency is not None:
            fields["concurrency"] = o.concurrency
            fields["concurrency_key"] = throttle.job_key(
                o.concurrency_key, o.name, "concurrency_key", args, kwargs
            )
        if o.rate is not None:
            rate = throttle.parse_rate(o.rate)
            fields["rate_limit"] = rate.limit
            fields["rate_period"] = rate.period
            fields["rate_key"] = throttle.job_key(o.rate_key, o.name, "rate_key", args, kwargs)
        return fields


def _due_time(delay: float | dt.timedelta | None, at: float | dt.datetime | None) -> float:
    if (delay is None) == (at is None):
        raise ValueError("schedule() needs exactly one of delay= (seconds) or at= (timestamp)")
    if delay is not None:
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else delay
        if not isinstance(seconds, (int, float)) or not limits.is_finite(seconds) or seconds < 0:
            raise ValueError(
                f"schedule(delay={delay!r}): delay must be a finite number of seconds >= 0 "
                "or a timedelta"
            )
        return time.time() + seconds
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise ValueError(
                f"schedule(at={at!r}): a naive datetime is ambiguous; pass an aware one "
                "(e.g. datetime.now(timezone.utc) + ...) or a Unix timestamp"
            )
        return at.timestamp()
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not limits.is_finite(at):
        raise ValueError(
            f"schedule(at={at!r}): at must be a finite Unix timestamp or an aware datetime"
        )
    return float(at)
