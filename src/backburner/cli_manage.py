"""`backburner retry`, `cancel` and `purge`: the commands that change stored jobs (what
they do beyond one store call is in cli_ops.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import click

from . import defaults
from .audit import cli_record, filter_text
from .cli import _bb, _fail_cleanly, parse_duration
from .cli_ops import GRACE_ENV, cancel_matching, cancel_one, forced_grace, no_such_jobs, purgeable
from .job import FINISHED, JobStatus

# as cli.py's (imported from there, it would be half-defined: cli.py imports this module)
app_argument = click.argument("app", metavar="APP", envvar="BACKBURNER_APP")


@click.command()
@app_argument
@click.argument("job_ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Retry every failed job.")
@_fail_cleanly
def retry(app: str | None, job_ids: Sequence[str], all_failed: bool) -> None:
    """Queue failed or cancelled jobs again with a fresh set of attempts.

    Exits 1 when a JOB_ID names no job in this store (the others are still retried)."""
    store = _bb(app).store
    if all_failed == bool(job_ids):
        raise click.UsageError("give JOB_ID... or --all-failed (not both)")
    if all_failed:
        job_ids = [r.id for r in store.list_jobs(status=JobStatus.FAILED, limit=1_000_000)]
    done = [job_id for job_id in job_ids if store.retry(job_id)]
    missing = [job_id for job_id in job_ids if job_id not in done and store.get(job_id) is None]
    left = {job_id: "no such job" for job_id in missing}
    for job_id in set(job_ids) - set(done) - set(missing):
        unmet = [
            d.job_id
            for d in store.dependencies(job_id)
            if d.status not in (None, JobStatus.SUCCEEDED)  # None: purged after success
        ]
        why = (
            f"dependencies {unmet} have not succeeded (retry those)"
            if unmet
            else "not failed or cancelled"
        )
        left[job_id] = why
        click.echo(f"{job_id}: {why}, left alone", err=True)
    no_such_jobs(missing)
    click.echo(f"{len(done)} job(s) queued again")
    if all_failed:
        cli_record(store, "retry_matching", "status=failed", f"{len(done)} jobs")
    else:
        for job_id in dict.fromkeys(job_ids):
            cli_record(
                store, "retry", job_id, f"not retried: {left[job_id]}" if job_id in left else ""
            )
    if missing:
        raise SystemExit(1)


@click.command()
@app_argument
@click.argument("job_ids", nargs=-1)
@click.option(
    "--status",
    "status_",
    type=click.Choice([JobStatus.QUEUED.value, JobStatus.SCHEDULED.value]),
    help="Cancel every job in this status instead of JOB_IDs (narrow with --queue, --task).",
)
@click.option("--queue", help="With --status: only jobs of this queue.")
@click.option("--task", help="With --status: only jobs of this task.")
@click.option(
    "--force",
    is_flag=True,
    help="With JOB_IDs: stop a running job that has not returned GRACE seconds after its "
    "worker told it (its process is killed); the job ends cancelled.",
)
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=None,
    help="With --force: seconds a running job gets to return [env var: "
    f"{GRACE_ENV}; default: the app's cancel_grace, {defaults.CANCEL_GRACE:g}].",
)
@_fail_cleanly
def cancel(
    app: str | None,
    job_ids: Sequence[str],
    status_: str | None,
    queue: str | None,
    task: str | None,
    force: bool,
    grace: float | None,
) -> None:
    """Cancel jobs: pending ones will not run; running ones are asked to stop, and with
    --force stopped if they have not returned within the grace.

    Exits 1 when a JOB_ID names no job in this store (the others are still cancelled)."""
    bb = _bb(app)
    if job_ids and (status_ or queue or task):
        raise click.UsageError("give JOB_ID... or --status with --queue/--task (not both)")
    if force and not job_ids:
        raise click.UsageError(
            "--force stops running jobs: give their JOB_IDs (--status cancels pending jobs, "
            "which need no force)"
        )
    grace = forced_grace(force, grace)
    if not job_ids:
        if status_ is None:
            raise click.UsageError(
                "give JOB_ID..., or --status queued|scheduled (with --queue Q, --task T) "
                "to cancel every pending job that matches"
            )
        n = cancel_matching(bb, JobStatus(status_), queue, task)
        target = filter_text(status=status_, queue=queue, task=task)
        cli_record(bb.store, "cancel", target, f"{n} jobs")
        return
    missing = []
    for job_id in dict.fromkeys(job_ids):
        outcome = cancel_one(bb, job_id, force, grace)
        if outcome is None:
            missing.append(job_id)
        action = "cancel_force" if force else "cancel"
        cli_record(bb.store, action, job_id, outcome or "not cancelled: no such job")
    no_such_jobs(missing)
    if missing:
        raise SystemExit(1)


@click.command()
@app_argument
@click.option(
    "--status",
    "statuses",
    multiple=True,
    default=["succeeded"],
    show_default=True,
    type=click.Choice([s.value for s in FINISHED]),
    help="Repeatable.",
)
@click.option(
    "--older-than",
    default="0s",
    show_default=True,
    help="Only jobs finished longer ago than this (e.g. 7d, 12h).",
)
@click.option("--dry-run", is_flag=True, help="Only say how many jobs would be deleted.")
@_fail_cleanly
def purge(app: str | None, statuses: Sequence[str], older_than: str, dry_run: bool) -> None:
    """Delete finished jobs."""
    cutoff = time.time() - parse_duration(older_than)
    store = _bb(app).store
    wanted = [JobStatus(s) for s in statuses]
    if dry_run:
        n = purgeable(store, wanted, cutoff)
        click.echo(f"{n} job(s) would be deleted (dry run: nothing was deleted)")
        return
    n = store.purge(statuses=wanted, older_than=cutoff)
    click.echo(f"{n} job(s) deleted")
    target = filter_text(status=",".join(statuses), older_than=older_than)
    cli_record(store, "purge", target, f"{n} jobs")
