"""What a job is: JobStatus, the stored JobRecord, and the Job handle users hold."""

from __future__ import annotations

import enum
import os
import time
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from . import codec, defaults, limits, signals
from .errors import BackburnerError, JobFailed, JobTimeout

if TYPE_CHECKING:
    from .app import Backburner
    from .logs import LogLine


class JobStatus(str, enum.Enum):
    """Where a job is in its life. A str, so it compares equal to its name."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    WAITING = "waiting"  # held until every job it depends on has succeeded
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """True once the job will not run again (unless retried by hand)."""
        return self in FINISHED


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
PENDING = frozenset({JobStatus.SCHEDULED, JobStatus.QUEUED})
#: Jobs that hold their unique_key: a WAITING job will be queued without a new check.
ACTIVE = PENDING | {JobStatus.RUNNING, JobStatus.WAITING}


@dataclass(frozen=True)
class Failure:
    """One failed attempt: its number, when it ended, and "Type: message" plus traceback.

    `retried_at` marks the last failure before a manual retry (`backburner retry`,
    `Store.retry`): when the job was queued again by hand with a fresh set of attempts,
    so attempt numbers that start again at 1 after it read as what they are."""

    attempt: int
    at: float
    error: str
    retried_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The failure as JSON data; `retried_at` only when the job was retried after it."""
        data: dict[str, Any] = {"attempt": self.attempt, "at": self.at, "error": self.error}
        if self.retried_at is not None:
            data["retried_at"] = self.retried_at
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failure:
        """The failure `to_json` wrote."""
        retried = data.get("retried_at")
        return cls(
            int(data["attempt"]),
            float(data["at"]),
            str(data["error"]),
            None if retried is None else float(retried),
        )


@dataclass(frozen=True)
class JobRecord:
    """A job as a store keeps it. Stores build these; nothing mutates them.

    `payload` and `result` are codec JSON text, so stores never interpret user data.
    `status` is never SCHEDULED for a job whose `run_at` has passed: stores report a due
    job as QUEUED. `token` is the fencing token of the current claim; it changes on every
    claim, so a worker that lost its lease cannot record an outcome over a newer attempt.
    """

    id: str
    task: str
    queue: str = defaults.QUEUE
    payload: str = "[[],{}]"
    priority: int = defaults.PRIORITY
    status: JobStatus = JobStatus.QUEUED
    run_at: float = 0.0
    created_at: float = 0.0
    max_attempts: int = defaults.RETRIES + 1
    retry_backoff: float = defaults.RETRY_BACKOFF
    timeout: float | None = None
    unique_key: str | None = None
    attempts: int = 0
    token: int = 0
    worker_id: str | None = None
    lease_until: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    result: str | None = None
    error: str | None = None
    failures: tuple[Failure, ...] = ()
    progress: dict[str, Any] | None = field(default=None, compare=False)
    cancel_requested: bool = False
    cancel_grace: float | None = None  # set by a forced cancel: see `Job.cancel`
    trace_context: str | None = None  # the producer's trace context (see `tracing`)
    schedule: str | None = None  # the schedule (bb.periodic) whose tick made this job
    scheduled_for: float | None = None  # that tick
    #: ids of the jobs this one waits for (`options(depends_on=...)`), in the order given
    depends_on: tuple[str, ...] = ()
    #: the job of `bb.group(..., then=...)`: gets its dependencies' results, in order, as
    #: its first argument
    takes_results: bool = False
    # flow control (see backburner.throttle): at most `concurrency` jobs sharing
    # `concurrency_key` run at once; at most `rate_limit` jobs sharing `rate_key` start
    # per `rate_period` seconds. Worked out at delay(); None: no such limit.
    concurrency: int | None = None
    concurrency_key: str | None = None
    rate_limit: int | None = None
    rate_period: float | None = None
    rate_key: str | None = None

    @classmethod
    def fresh(cls, **fields: Any) -> JobRecord:
        """The record `JobRecord(**fields)` makes, the rest at their defaults, in a third
        of the time: a frozen dataclass sets each of its 35 fields through
        object.__setattr__ (4 us of a 15 us `delay()`). For producers, whose fields were
        checked already; a name that is not a field raises TypeError, as __init__ would."""
        if not _RECORD_NAMES.issuperset(fields) or "id" not in fields or "task" not in fields:
            unknown = sorted(fields.keys() - _RECORD_NAMES)
            raise TypeError(f"JobRecord.fresh() takes id, task and other fields, not {unknown}")
        record = object.__new__(cls)
        object.__setattr__(record, "__dict__", {**_RECORD_DEFAULTS, **fields})
        return record

    @classmethod
    def stored(cls, fields: dict[str, Any]) -> JobRecord:
        """The record whose fields are `fields`: every field, nothing else, each of its
        type. For stores, which read every field of each job they claim: the record takes
        the dict over (the caller keeps no reference to it), so building one costs what
        `fresh()` does without its checks, a tenth of __init__'s 35 object.__setattr__
        (about 6 us of a no-op job's worker CPU). Nothing is checked: a store that left a
        field out makes records that raise AttributeError when it is read."""
        record = object.__new__(cls)
        object.__setattr__(record, "__dict__", fields)
        return record

    @property
    def limited(self) -> bool:
        """Whether a claim must check this job's concurrency or rate limit."""
        return self.concurrency is not None or self.rate_limit is not None

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        """The job as plain JSON-ready data, the one shape scripts (`--json`) and the job
        API see: id, task, queue, status, priority, attempts, max_attempts, the times
        (Unix seconds), progress, the first line of the error, and for a periodic job its
        schedule's name and tick (`schedule`, `scheduled_for`; None otherwise). `full`
        adds payload (the arguments as JSON: {"args": [...], "kwargs": {...}}), result
        (codec JSON text), the whole error, worker_id, every failure, and depends_on (the
        ids of the jobs it waits for, in order)."""
        data: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "queue": self.queue,
            "status": self.status.value,
            "priority": self.priority,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": self.created_at,
            "run_at": self.run_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": self.progress,
            "error": self.error.splitlines()[0] if self.error else None,
            "schedule": self.schedule,
            "scheduled_for": self.scheduled_for,
        }
        if full:
            data.update(
                payload=_call_json(self.payload),
                result=self.result,
                error=self.error,
                worker_id=self.worker_id,
                failures=[f.to_json() for f in self.failures],
                depends_on=list(self.depends_on),
            )
        return data


# every JobRecord field with its default (None for id and task, which have none)
_RECORD_DEFAULTS: dict[str, Any] = {
    f.name: None if f.default is MISSING else f.default for f in fields(JobRecord)
}
# fresh() shares these defaults between records, and it and stored() skip __init__: a
# field made by a factory, or a __post_init__, would need them to do the same
assert not hasattr(JobRecord, "__post_init__") and all(
    f.default_factory is MISSING for f in fields(JobRecord)
), "JobRecord.fresh() and .stored() skip __init__: teach them the new factory or __post_init__"
_RECORD_NAMES = frozenset(_RECORD_DEFAULTS)


def _call_json(payload: str) -> Any:
    """Stored arguments as plain JSON, {"args": [...], "kwargs": {...}}; the stored text
    itself when it cannot be decoded (a job whose payload is corrupt still shows)."""
    try:
        args, kwargs = codec.loads_plain(payload)
    except (ValueError, TypeError):
        return payload
    return {"args": args, "kwargs": kwargs}


def new_id() -> str:
    """A new job id: a UUIDv7 (RFC 9562) as 32 hex digits. Ids made later sort after
    those made in an earlier millisecond; 74 random bits keep them unguessable and apart.

    Time order is what keeps the stores' id index cheap as it grows: a new id goes to
    the right edge of the b-tree, where the last enqueue's page already is, not to a
    random leaf among a million jobs' (which SQLite then reads from the file on every
    enqueue, and again on every complete; bench/scale.py)."""
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | raw[6] & 0x0F  # version 7 over the top 4 bits of the random part
    raw[8] = 0x80 | raw[8] & 0x3F  # variant: binary 10
    return raw.hex()


def pending_status(run_at: float, now: float) -> JobStatus:
    """SCHEDULED while `run_at` is in the future, else QUEUED."""
    return JobStatus.SCHEDULED if run_at > now else JobStatus.QUEUED


class Job:
    """A handle on one job. Attributes reflect the last read; `refresh()` reads again."""

    __slots__ = ("_bb", "_record")

    def __init__(self, bb: Backburner, record: JobRecord) -> None:
        self._bb = bb
        self._record = record

    def __repr__(self) -> str:
        return f"<Job {self.id} {self._record.task} {self.status.value}>"

    @property
    def record(self) -> JobRecord:
        """The JobRecord as last read from the store."""
        return self._record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def task(self) -> str:
        return self._record.task

    @property
    def queue(self) -> str:
        return self._record.queue

    @property
    def status(self) -> JobStatus:
        return self._record.status

    @property
    def attempts(self) -> int:
        return self._record.attempts

    @property
    def error(self) -> str | None:
        """ "ExceptionType: message" then the traceback of the last failure, or None."""
        return self._record.error

    @property
    def progress(self) -> dict[str, Any] | None:
        """{"done", "total", "message"} as last set by the task, or None."""
        return self._record.progress

    @property
    def result(self) -> Any:
        """The task's return value once it succeeded, else None."""
        text = self._record.result
        if self._record.status is not JobStatus.SUCCEEDED or text is None:
            return None
        return codec.loads(text)

    def logs(self, attempt: int | None = None) -> list[LogLine]:
        """What the job printed (stdout, stderr) and logged while it ran in a worker, in
        order, every attempt's or only `attempt`'s: each LogLine has at, attempt, stream
        ("stdout", "stderr" or "log"), level and message. Kept up to the task's
        `log_lines` / `log_bytes` per attempt, written as the job runs (at least every
        second), and deleted with the job."""
        return self._bb.store.logs(self.id, attempt=attempt)

    def refresh(self) -> Job:
        """Read the job again from the store; returns self."""
        record = self._bb.store.get(self.id)
        if record is not None:
            self._record = record
        return self

    def cancel(self, force: bool = False, grace: float | None = None) -> bool:
        """Cancel the job. True if it will not run (again); a running job only gets
        `current_job.cancel_requested` set, and will not be retried.

        `force=True` also stops a running job that does not return: once its worker tells
        it (at the worker's next heartbeat, every lease/3 seconds), it has `grace` seconds
        (default: the Backburner's `cancel_grace`, 10) to return, then its worker kills the
        process running it, even one stuck in C code. The job ends CANCELLED, not retried,
        the reason in `job.error`; other jobs that process was running go back to their
        queue uncounted. A pending job is cancelled at once, as without `force`."""
        if grace is not None and not force:
            raise ValueError("grace= applies to a forced cancel: pass force=True too")
        if force:
            grace = limits.check_seconds(
                self._bb.settings.cancel_grace if grace is None else grace, "grace"
            )
        cancelled = self._bb.store.cancel(self.id, grace=grace)
        self.refresh()
        if cancelled:
            signals.send_job(signals.job_cancelled, self._bb, self._record)
        return cancelled

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> Any:
        """Block until the job finishes and return its result.

        Raises JobFailed if it failed or was cancelled (JobTimeout, a JobFailed, when its
        last attempt overran the task's timeout), TimeoutError after `timeout` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = 0.002
        while True:
            self.refresh()
            status = self._record.status
            if status is JobStatus.SUCCEEDED:
                return self.result
            if status in FINISHED:
                timed_out = (self.error or "").startswith(f"{JobTimeout.__name__}:")
                failure = JobTimeout if status is JobStatus.FAILED and timed_out else JobFailed
                raise failure(self, f"job {self.id} ({self.task}) {status.value}: {self.error}")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"job {self.id} ({self.task}) still {status.value} after {timeout}s"
                    + (_who_serves(self._bb, self.queue) if status in PENDING else "")
                )
            pause = (
                interval
                if deadline is None
                else min(interval, max(0.0, deadline - time.monotonic()))
            )
            time.sleep(pause)
            interval = min(interval * 2, poll)


def _who_serves(bb: Backburner, queue: str) -> str:
    """Why a pending job may not have started: whether any live worker serves its queue
    (a worker listing no queues serves them all). Empty if the store cannot tell."""
    try:
        workers = bb.store.list_workers(alive_since=time.time() - 3 * bb.settings.lease)
    except BackburnerError:
        return ""  # the timeout is the news; a store outage must not replace it
    serving = [w for w in workers if not w.queues or queue in w.queues]
    if not serving:
        return (
            f"; no live worker serves queue {queue!r} "
            f"(start one: backburner worker APP --queues {queue})"
        )
    return f"; {len(serving)} live worker(s) serve queue {queue!r}, busy with other jobs?"
