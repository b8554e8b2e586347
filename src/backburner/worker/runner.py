"""Run one claimed job: decode, call the task in its context, record the outcome.

Used by worker threads, by `testing.drain()` and by eager mode, so a job behaves the same
wherever it runs.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .. import codec
from ..context import JobContext, _current
from ..errors import Retry, UnknownTask
from ..job import Failure, JobRecord, JobStatus
from ..retry import backoff_delay

if TYPE_CHECKING:
    from ..app import Backburner

log = logging.getLogger("backburner.worker")


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: a result (codec JSON), or an error and when to retry."""

    succeeded: bool
    result: str | None = None
    error: str | None = None
    retry_at: float | None = None


def format_error(exc: BaseException) -> str:
    """ "Type: message" then the traceback, as stored in job.error."""
    head = f"{type(exc).__name__}: {exc}"
    return head + "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def retry_time(
    attempts: int,
    max_attempts: int,
    retry_backoff: float,
    delay: float | None = None,
    backoff: bool = True,
) -> float | None:
    """When to run again after attempt number `attempts` failed, or None if out of attempts.
    `delay` (from Retry) overrides the backoff; without `backoff` the retry is due at once
    (drain() and eager mode)."""
    if attempts >= max_attempts:
        return None
    if not backoff:
        delay = 0.0
    elif delay is None:
        delay = backoff_delay(attempts, retry_backoff)
    return time.time() + delay


def execute(bb: Backburner, record: JobRecord, ctx: JobContext, backoff: bool = True) -> Outcome:
    """Run the task of `record` once. Never raises for anything the job did."""
    task = bb.tasks.get(record.task)
    if task is None:
        error = UnknownTask(
            f"no task named {record.task!r} is registered with this Backburner; does the "
            "worker import the module that defines it?"
        )
        return Outcome(False, error=f"UnknownTask: {error}")
    try:
        args, kwargs = codec.loads(record.payload)
    except Exception as exc:
        return Outcome(False, error=f"undecodable payload: {format_error(exc)}")
    token = _current.set(ctx)
    try:
        with bb.job_scope():
            value = task.fn(*args, **kwargs)
    except Retry as exc:
        return _failed(record, exc, exc.delay, backoff)
    except (Exception, SystemExit) as exc:  # sys.exit() in a task fails only that attempt
        return _failed(record, exc, None, backoff)
    finally:
        _current.reset(token)
    try:
        return Outcome(True, result=codec.dumps(value))
    except TypeError as exc:
        return Outcome(
            False,
            error=f"ResultNotStorable: the task returned a value that cannot be stored: {exc}",
        )


def _failed(record: JobRecord, exc: BaseException, delay: float | None, backoff: bool) -> Outcome:
    retry_at = retry_time(
        record.attempts, record.max_attempts, record.retry_backoff, delay, backoff
    )
    return Outcome(False, error=format_error(exc), retry_at=retry_at)


def run_claimed(
    bb: Backburner, record: JobRecord, ctx: JobContext | None = None, backoff: bool = True
) -> Outcome:
    """Execute a job this process claimed and record its outcome, fenced by its token."""
    ctx = ctx or JobContext(bb.store, record.id, record.token, record.attempts, record.task)
    outcome = execute(bb, record, ctx, backoff)
    ctx.flush()
    record_outcome(bb, record, outcome)
    return outcome


def record_outcome(bb: Backburner, record: JobRecord, outcome: Outcome) -> bool:
    """Store the outcome of `record`'s attempt; False if its lease was lost meanwhile."""
    if outcome.succeeded:
        recorded = bb.store.complete(record.id, record.token, outcome.result)
    else:
        assert outcome.error is not None
        recorded = bb.store.fail(record.id, record.token, outcome.error, outcome.retry_at)
    if not recorded:
        lease_lost(record.id)
    return recorded


def lease_lost(job_id: str) -> None:
    log.warning(
        "job %s: lease lost before the outcome was recorded; another attempt owns it", job_id
    )


class _EagerStore:
    """Stands in for the store while an eager job runs: progress stays on the record."""

    def __init__(self) -> None:
        self.progress: dict[str, object] | None = None

    def set_progress(self, job_id: str, token: int, progress: dict[str, object]) -> bool:
        self.progress = dict(progress)
        return True


def run_eagerly(bb: Backburner, record: JobRecord) -> JobRecord:
    """Run every attempt of `record` now, in this thread, without the store or any waiting.

    Returns the finished record (not stored): eager mode is for tests of users' own code.
    """
    failures: list[Failure] = []
    sink = _EagerStore()
    for attempt in range(1, record.max_attempts + 1):
        record = replace(
            record,
            status=JobStatus.RUNNING,
            attempts=attempt,
            token=attempt,
            started_at=time.time(),
        )
        ctx = JobContext(sink, record.id, attempt, attempt, record.task)  # type: ignore[arg-type]
        outcome = execute(bb, record, ctx, backoff=False)
        ctx.flush()
        now = time.time()
        if outcome.succeeded:
            return replace(
                record,
                status=JobStatus.SUCCEEDED,
                result=outcome.result,
                finished_at=now,
                failures=tuple(failures),
                progress=sink.progress,
            )
        assert outcome.error is not None
        failures.append(Failure(attempt, now, outcome.error))
        if outcome.retry_at is None:
            break
    return replace(
        record,
        status=JobStatus.FAILED,
        error=failures[-1].error,
        finished_at=time.time(),
        failures=tuple(failures),
        progress=sink.progress,
    )
