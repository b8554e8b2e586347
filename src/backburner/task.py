"""Task[P, R]: a function registered with a Backburner, callable inline or as a job."""

from __future__ import annotations

import datetime as dt
import inspect
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from . import codec, defaults, limits, signals, throttle
from .job import Job, JobRecord, pending_status
from .throttle import KeyFn

if TYPE_CHECKING:
    from .app import Backburner

P = ParamSpec("P")
R = TypeVar("R")


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
    if o.unique_key is not None:
        if not isinstance(o.unique_key, str):
            raise ValueError(f"unique_key must be a str or None, got {o.unique_key!r}")
        limits.check_text(o.unique_key, "unique_key", limits.MAX_UNIQUE_KEY_BYTES)
    throttle.check_concurrency(o.concurrency)
    if o.rate is not None:
        throttle.parse_rate(o.rate)
    throttle.check_key_fn(o.concurrency_key, "concurrency_key", "concurrency=N", o.concurrency)
    throttle.check_key_fn(o.rate_key, "rate_key", "rate='N/s|m|h'", o.rate)


OPTION_NAMES = frozenset(f.name for f in fields(TaskOptions))


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
        unknown = set(overrides) - (OPTION_NAMES - {"name"})
        if unknown:
            raise TypeError(
                f"{self.name}.options() got unknown or fixed option(s) {sorted(unknown)}; "
                f"valid: {sorted(OPTION_NAMES - {'name'})}"
            )
        copy = Task.__new__(Task)
        copy.__dict__.update(self.__dict__)
        copy.opts = replace(self.opts, **overrides)
        return copy

    # -- enqueueing --------------------------------------------------------------------
    def encode_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Check the arguments against the function and encode them, or raise TypeError."""
        arity = self._arity
        if kwargs or arity is None or not arity[0] <= len(args) <= arity[1]:
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{self.name}.delay(): {exc}") from None
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
        now = time.time()
        o = self.opts
        record = JobRecord(
            id=uuid.uuid4().hex,
            task=o.name,
            queue=self.queue,
            payload=payload,
            priority=o.priority,
            status=pending_status(run_at or now, now),
            run_at=now if run_at is None else run_at,
            created_at=now,
            max_attempts=self.retries + 1,
            retry_backoff=self.retry_backoff,
            timeout=None if o.timeout is None else float(o.timeout),
            unique_key=o.unique_key,
            **self._flow_control(args, kwargs),
        )
        eager, raise_errors = self.bb.eager_mode()
        if eager and self.bb.hold_eager(lambda: self._submit(record, eager, raise_errors)):
            return Job(self.bb, record)  # in an eager transaction() block: runs at its end
        return self._submit(record, eager, raise_errors)

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

    def _submit(self, record: JobRecord, eager: bool, raise_errors: bool) -> Job:
        """Store `record`, then with `eager` run it here and now (see worker.runner)."""
        [job_id] = self.bb.store.enqueue([record])
        if job_id != record.id:  # deduplicated by unique_key: hand back the live job
            existing = self.bb.store.get(job_id)
            if existing is not None:
                return Job(self.bb, existing)
        signals.send_job(signals.job_enqueued, self.bb, record)
        if eager:
            from .worker.runner import run_eagerly

            return Job(self.bb, run_eagerly(self.bb, record, raise_errors=raise_errors))
        return Job(self.bb, record)


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
