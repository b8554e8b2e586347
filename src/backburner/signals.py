"""Lifecycle signals: the plug-in point for error reporting, metrics and audit logs.

Blinker signals, as Flask's own are. The sender is the Backburner the job belongs to;
connect for one (`job_failed.connect(fn, sender=bb)`) or for all. Receivers are called
`fn(sender, **data)` in the process where the event happens:

- `job_enqueued(bb, job)`: in the process that called `delay()` / `schedule()`, once the
  job is written (not when `unique_key` returned a live job instead); inside a
  `bb.transaction()` block that is before your commit, and a rolled-back job was sent too;
- `job_started(bb, job)`: in the worker thread, just before the task runs (`job.attempts`
  is this attempt's number);
- `job_succeeded(bb, job, result, duration)`: the task returned `result`;
- `job_retrying(bb, job, error, exception, run_at)`: the attempt failed and will run again
  at `run_at` (a Unix time);
- `job_failed(bb, job, error, exception)`: the job failed for good (its last attempt);
  `exception` is None when no exception is at hand (its worker process died or timed out);
- `job_cancelled(bb, job)`: it will not run again because it was cancelled;
- `worker_started(bb, worker_id, config)` and `worker_stopping(bb, worker_id, reason)`:
  in the worker's supervisor process.

`error` is the text stored in `job.error` ("Type: message" and the traceback). A receiver
that raises is logged and skipped: it never breaks a job, a worker or a `delay()`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from blinker import NamedSignal, Namespace

if TYPE_CHECKING:
    from .app import Backburner
    from .job import JobRecord

__all__ = [
    "job_cancelled",
    "job_enqueued",
    "job_failed",
    "job_retrying",
    "job_started",
    "job_succeeded",
    "worker_started",
    "worker_stopping",
]

log = logging.getLogger("backburner.signals")
_signals = Namespace()

job_enqueued = _signals.signal("job-enqueued", doc="A job was stored by delay() or schedule().")
job_started = _signals.signal("job-started", doc="A worker is about to run an attempt.")
job_succeeded = _signals.signal("job-succeeded", doc="An attempt returned a result.")
job_retrying = _signals.signal("job-retrying", doc="An attempt failed; the job runs again.")
job_failed = _signals.signal("job-failed", doc="A job failed for good.")
job_cancelled = _signals.signal("job-cancelled", doc="A job ended cancelled.")
worker_started = _signals.signal("worker-started", doc="A worker supervisor started.")
worker_stopping = _signals.signal("worker-stopping", doc="A worker supervisor is stopping.")


def send(signal: NamedSignal, bb: Backburner, **data: Any) -> None:
    """Call every receiver of `signal` for `bb`; one that raises is logged, not raised."""
    if not signal.receivers:  # the common case costs one check
        return
    for receiver in signal.receivers_for(bb):
        try:
            receiver(bb, **data)
        except Exception:
            log.exception("a receiver of backburner's %s signal raised; ignored", signal.name)


def job_endings_wanted() -> bool:
    """Whether anyone listens for how attempts end (so a caller without the job's record
    knows whether reading it is worth a store call)."""
    return bool(job_retrying.receivers or job_failed.receivers or job_cancelled.receivers)


def send_job(signal: NamedSignal, bb: Backburner, record: JobRecord, **data: Any) -> None:
    """`send()` with `job=` a Job handle on `record`, built only if someone listens."""
    if signal.receivers:
        from .job import Job

        send(signal, bb, job=Job(bb, record), **data)
