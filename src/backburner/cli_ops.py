"""What the operator commands do beyond one store call: cancel by id or by filter, count
what a purge would delete, and the messages they share. `cli_manage.py` holds the commands."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence

import click

from . import codec
from .app import Backburner
from .job import Job, JobStatus
from .stores import Store


def cancel_matching(bb: Backburner, status: JobStatus, queue: str | None, task: str | None) -> int:
    """Cancel every job in `status` (narrowed to `queue` and `task` when given) through
    `Job.cancel()`, so the job_cancelled signal fires for each; say and return how many."""
    records = bb.store.list_jobs(status=status, queue=queue, task=task, limit=1_000_000)
    cancelled = sum(Job(bb, record).cancel() for record in records)
    if cancelled < len(records):  # started or finished between the listing and the cancel
        click.echo(
            f"{len(records) - cancelled} job(s) had left {status.value}, left alone", err=True
        )
    click.echo(f"{cancelled} job(s) cancelled")
    return cancelled


def cancel_one(bb: Backburner, job_id: str, force: bool, grace: float | None) -> str | None:
    """Cancel one job through `Job.cancel()` (so receivers of the job_cancelled signal hear
    of it) and say what became of it; returns that in short (the audit entry's detail),
    None when no job has this id."""
    job = bb.get_job(job_id)
    if job is None:
        return None
    if job.cancel(force=force, grace=grace):
        click.echo(f"{job_id}: cancelled")
        return "cancelled"
    if job.status is JobStatus.RUNNING and force:
        grace_s = job.record.cancel_grace or 0
        click.echo(
            f"{job_id}: running; cancelled by force: its worker stops it if it has not "
            f"returned {grace_s:g}s after telling it (the worker learns "
            "of it at its next heartbeat)"
        )
        return f"running: stopped if not returned in {grace_s:g}s"
    if job.status is JobStatus.RUNNING:
        click.echo(f"{job_id}: running; cancel requested, it will not be retried")
        return "running: cancel requested"
    click.echo(f"{job_id}: already {job.status.value}", err=True)
    return f"not cancelled: {job.status.value}"


GRACE_ENV = "BACKBURNER_CANCEL_GRACE"


def forced_grace(force: bool, grace: float | None) -> float | None:
    """The grace to pass on: --grace, else $BACKBURNER_CANCEL_GRACE, with --force only.
    --grace without --force is refused; the variable is not even read then (it only
    matters with --force, so a bad value must not break a plain cancel)."""
    if not force:
        if grace is not None:
            raise click.UsageError("--grace applies to a forced cancel: add --force")
        return None
    text = os.environ.get(GRACE_ENV, "")
    if grace is not None or not text:
        return grace
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise click.UsageError(
            f"${GRACE_ENV} must be a number of seconds, 0 or more; got {text!r}: "
            "fix or unset it, or pass --grace"
        )
    return seconds


def no_such_jobs(job_ids: Sequence[str]) -> None:
    """Tell stderr that these ids name no job, and what to check."""
    for job_id in job_ids:
        click.echo(
            f"{job_id}: no such job in this store; check the id, and that APP names the "
            "store its job was enqueued in",
            err=True,
        )


def purgeable(store: Store, statuses: Sequence[JobStatus], cutoff: float) -> int:
    """How many jobs `store.purge(statuses=..., older_than=cutoff)` would delete, read a
    page at a time (the Store protocol has no count by finish time)."""
    total, page = 0, 1000
    for status in statuses:
        for offset in itertools.count(0, page):
            found = store.list_jobs(status=status, limit=page, offset=offset)
            total += sum(1 for r in found if (r.finished_at or 0.0) < cutoff)
            if len(found) < page:
                break
    return total


def call_text(payload: str) -> str:
    """Stored arguments as a Python call's: `1, 'a', to='x'` (the stored text when it
    cannot be decoded, "-" for none)."""
    try:
        args, kwargs = codec.loads(payload)
    except (ValueError, TypeError):
        return payload
    shown = [repr(a) for a in args] + [f"{name}={value!r}" for name, value in kwargs.items()]
    return ", ".join(shown) or "-"
