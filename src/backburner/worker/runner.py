"""Run one claimed job: decode, call the task in its context, record the outcome.

Used by worker threads, by `testing.drain()` and by eager mode, so a job behaves the same
wherever it runs.
"""

from __future__ import annotations

import inspect
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import codec, policy, signals, tracing
from ..context import JobContext, _current
from ..errors import JobFailed, Retry
from ..job import Job, JobRecord, JobStatus
from ..policy import Ending
from . import loops
from .output import JobEvent, error_type

if TYPE_CHECKING:
    from ..app import Backburner

log = logging.getLogger("backburner.worker")


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: a result (codec JSON), or an error and the delay `Retry`
    asked for (None: the task's backoff). `policy` decides what a failure leads to."""

    succeeded: bool
    result: str | None = None
    error: str | None = None
    delay: float | None = None
    retryable: bool = True  # False: running it again cannot help (bad payload, say)
    unknown_task: bool = False  # not run: this process does not know the task
    exception: BaseException | None = field(default=None, compare=False)


def format_error(exc: BaseException) -> str:
    """ "Type: message" then the traceback, as stored in job.error."""
    head = f"{type(exc).__name__}: {exc}"
    return head + "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def execute(bb: Backburner, record: JobRecord, ctx: JobContext) -> Outcome:
    """Run the task of `record` once, in a CONSUMER span when tracing is on. Never raises
    for anything the job did."""
    tracer = tracing.active()
    if tracer is None:
        return _execute(bb, record, ctx)
    with tracing.consuming(tracer, record) as span:
        outcome = _execute(bb, record, ctx)
        tracing.ended(span, outcome)
        return outcome


def _execute(bb: Backburner, record: JobRecord, ctx: JobContext) -> Outcome:
    task = bb.tasks.get(record.task)
    if task is None:  # policy.unknown_task decides what becomes of it
        return Outcome(False, error=unknown_task_hint(bb, record.task), unknown_task=True)
    try:
        args, kwargs = codec.loads(record.payload)
    except Exception as exc:
        return Outcome(False, error=f"undecodable payload: {format_error(exc)}", retryable=False)
    if record.takes_results:  # the `then` of a group: their results come first
        try:
            args = (dependency_results(bb, record), *args)
        except Exception as exc:
            return Outcome(False, error=format_error(exc), retryable=False)
    signals.send_job(signals.job_started, bb, record)
    began = time.monotonic()
    token = _current.set(ctx)
    try:
        with bb.job_scope():
            value = task.fn(*args, **kwargs)
            if inspect.iscoroutine(value):  # an async def task: run it to completion here
                value = loops.run(value)
    except Retry as exc:
        return Outcome(False, error=format_error(exc), delay=exc.delay, exception=exc)
    except (Exception, SystemExit) as exc:  # sys.exit() in a task fails only that attempt
        return Outcome(False, error=format_error(exc), exception=exc)
    finally:
        _current.reset(token)
    try:
        result = codec.dumps(value)
    except TypeError as exc:
        return Outcome(
            False,
            error=f"ResultNotStorable: the task returned a value that cannot be stored: {exc}",
            retryable=False,
            exception=exc,
        )
    duration = time.monotonic() - began
    signals.send_job(signals.job_succeeded, bb, record, result=value, duration=duration)
    return Outcome(True, result=result)


def dependency_results(bb: Backburner, record: JobRecord) -> list[object]:
    """The results of the jobs `record` depends on, in order (kept while it has not
    finished: purge leaves a job whose dependents have not finished)."""
    results = []
    for dep in record.depends_on:
        found = bb.store.get(dep)
        if found is None or found.status is not JobStatus.SUCCEEDED:
            state = "purged" if found is None else found.status.value
            raise LookupError(f"the result of dependency {dep} is not available: it is {state}")
        results.append(None if found.result is None else codec.loads(found.result))
    return results


def unknown_task_hint(bb: Backburner, name: str) -> str:
    """Why this process does not know task `name`, and what to do, for the worker's log."""
    known = ", ".join(sorted(bb.tasks)) or "none"
    if "<locals>" in name or "<lambda>" in name:
        why = (
            "it was registered from inside a function that this worker never ran; define "
            "it at module level"
        )
    else:
        why = (
            "if it is new, this worker runs older code (a rolling deploy: it ends once every "
            "worker runs the new code); else make the worker's app import the module that "
            "defines it"
        )
    return f"task {name!r} is not registered in this worker (it knows: {known}): {why}"


def run_claimed(
    bb: Backburner, record: JobRecord, ctx: JobContext | None = None, backoff: bool = True
) -> Outcome:
    """Execute a job this process claimed and record its outcome, fenced by its token."""
    ctx = ctx or JobContext(
        bb.store, record.id, record.token, record.attempts, record.task, record.scheduled_for
    )
    outcome = execute(bb, record, ctx)
    flush_progress(ctx)
    record_outcome(bb, record, outcome, backoff)
    return outcome


def flush_progress(ctx: JobContext) -> None:
    """Write the progress the attempt left unwritten. A store that refuses it is logged, not
    raised: the attempt's outcome matters more than its last progress, and must be recorded."""
    try:
        ctx.flush()
    except Exception:
        log.exception("job %s: could not store its last progress; recording its outcome", ctx.id)


def ending_of(record: JobRecord, outcome: Outcome, backoff: bool = True) -> Ending:
    """What `policy` makes of a failed attempt of `record`; without `backoff` a retry is
    due at once (drain() and eager mode)."""
    if outcome.unknown_task:
        return policy.unknown_task(record.id, record.token, record.task, record.worker_id)
    assert outcome.error is not None
    return policy.after_error(
        record, outcome.error, delay=outcome.delay, backoff=backoff, retryable=outcome.retryable
    )


def record_outcome(
    bb: Backburner,
    record: JobRecord,
    outcome: Outcome,
    backoff: bool = True,
    warned: set[str] | None = None,
) -> JobStatus | None:
    """Store the outcome of `record`'s attempt; returns the status it left the job in,
    None if its lease was lost meanwhile. `warned`: the unknown task names this process
    has warned about already; a job of one of them is then logged at debug level only,
    not once per claim."""
    status: JobStatus | None
    if outcome.succeeded:
        recorded = bb.store.complete(record.id, record.token, outcome.result)
        status = JobStatus.SUCCEEDED if recorded else None
    else:
        ending = ending_of(record, outcome, backoff)
        if outcome.unknown_task:
            _log_unknown(record, outcome, warned)
        else:
            first = (outcome.error or "").splitlines()[0]
            retried = ending.status is JobStatus.QUEUED
            log.warning(
                "job %s %s %s: %s",
                *(record.id, record.task, "will retry" if retried else "failed", first),
                extra={
                    "job_event": JobEvent(
                        record, "retried" if retried else "failed", None, error_type(first)
                    )
                },
            )
        [status] = bb.store.end_attempts([ending])
        announce(bb, record, ending, status, outcome.exception)
    if status is None:
        lease_lost(record.id)
    return status


def _log_unknown(record: JobRecord, outcome: Outcome, warned: set[str] | None) -> None:
    first = warned is None or record.task not in warned
    if warned is not None:
        warned.add(record.task)
    log.log(
        logging.WARNING if first else logging.DEBUG,
        "job %s handed back uncounted, due again in %.0fs for a worker that knows it: %s%s",
        record.id,
        policy.UNKNOWN_TASK_WAIT,
        outcome.error,
        " (said once per task name per process)" if warned is not None else "",
    )


def announce(
    bb: Backburner,
    record: JobRecord,
    ending: Ending,
    status: JobStatus | None,
    exception: BaseException | None = None,
) -> None:
    """Send the signal for an attempt that ended as `ending` and left the job `status`
    (None: the store refused it, the attempt no longer held the job: nothing to say)."""
    if status is JobStatus.QUEUED and ending.counted:
        signals.send_job(
            signals.job_retrying,
            bb,
            record,
            error=ending.error,
            exception=exception,
            run_at=ending.run_at,
        )
    elif status is JobStatus.FAILED:
        signals.send_job(signals.job_failed, bb, record, error=ending.error, exception=exception)
    elif status is JobStatus.CANCELLED:
        signals.send_job(signals.job_cancelled, bb, record)


def lease_lost(job_id: str) -> None:
    log.warning(
        "job %s: lease lost before the outcome was recorded; another attempt owns it", job_id
    )


EAGER_WORKER = "eager"  # the worker id eager attempts are claimed under


def run_eagerly(bb: Backburner, record: JobRecord, *, raise_errors: bool = False) -> JobRecord:
    """Run the just-enqueued job `record` now, in this thread, as a worker would: claim
    that job (and no other), run it, record the outcome, and again at once for each retry,
    until it ends. A job not due yet (scheduled for later) is left scheduled.

    Returns the job as stored. With `raise_errors`, a job that ended failed re-raises the
    exception of its last attempt (JobFailed when there is none, e.g. a bad result).
    """
    outcome: Outcome | None = None
    # each claim counts an attempt, so this bounds the loop even if an attempt is handed
    # back uncounted
    for _ in range(record.max_attempts):
        claimed = bb.store.claim_job(record.id, EAGER_WORKER, bb.settings.lease)
        if claimed is None:
            break
        outcome = run_claimed(bb, claimed, backoff=False)
    stored = bb.store.get(record.id) or record
    if raise_errors and outcome is not None and stored.status is JobStatus.FAILED:
        if outcome.exception is not None:
            raise outcome.exception
        raise JobFailed(
            Job(bb, stored),
            f"job {stored.id} ({stored.task}) failed: {(stored.error or '').splitlines()[0]}",
        )
    return stored
