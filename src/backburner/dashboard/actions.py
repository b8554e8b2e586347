"""The dashboard's actions, each a POST (checked by `guard`: "all" access, same site)
recorded in the store's audit log with who did it and from where, then answered with a
redirect to a page that shows a one-time message (a cookie, shown escaped).

Bulk actions (retry or delete every job matching a filter) act on at most BULK_CAP jobs,
and on no more than the count the confirm page showed (the POST carries it): a filter
that matches more jobs by the time it is confirmed does not act on the extra ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, request, url_for

from .. import audit
from ..app import Backburner
from ..flows import submit
from ..job import FINISHED, Job, JobStatus
from ..stores.base import JobFilter
from .guard import dashboard
from .jobs import filter_args, job_filter, load, visible
from .pages import FLASH, current, render

BULK_CAP = 1000
BULK_ACTIONS = ("retry", "delete")
SCAN_PAGE = 200


def done(message: str, endpoint: str, **values: Any) -> Response:
    """Redirect to a page that shows `message` once."""
    response = Response(status=303, headers={"Location": url_for(f".{endpoint}", **values)})
    response.set_cookie(
        FLASH, message[:300], path=dashboard().cookie_path(), httponly=True, samesite="Strict"
    )
    return response


def record(action: str, target: str, detail: str = "") -> None:
    """Write the audit entry of an action done now by this request's user."""
    audit.record(
        current().store,
        action,
        target,
        actor=dashboard().actor(request),
        source=request.remote_addr or "",
        detail=detail,
    )


def retry(job_id: str) -> Response:
    job = load(job_id, light=True)
    ok = current().store.retry(job_id)
    record("retry", job_id, "" if ok else f"not retried: {job.status.value}")
    message = (
        "Job queued again."
        if ok
        else f"Not retried ({job.status.value}): only a failed or cancelled job whose "
        "dependencies succeeded can be."
    )
    return done(message, "job", job_id=job_id)


def cancel(job_id: str) -> Response:
    force = request.form.get("force") == "1"
    handle = Job(current(), load(job_id, light=True))
    cancelled = handle.cancel(force=force)
    status = handle.status.value
    if cancelled:
        detail, message = "", "Job cancelled."
    elif status == JobStatus.RUNNING:
        detail = "cancel requested while running"
        message = "Cancel requested: the running job stops" + (
            " or is stopped by force." if force else " if its task checks it."
        )
    else:
        detail, message = f"not cancelled: {status}", f"Not cancelled: the job is {status}."
    record("cancel_force" if force else "cancel", job_id, detail)
    return done(message, "job", job_id=job_id)


def delete(job_id: str) -> Response:
    job = load(job_id, light=True)
    deleted = current().store.delete_jobs([job_id]) == 1
    if deleted:
        record("delete", job_id, f"{job.task} {job.status.value}")
        return done("Job deleted.", "jobs")
    why = "not finished" if job.status not in FINISHED else "its dependents have not finished"
    record("delete", job_id, f"not deleted: {why}")
    return done(f"Not deleted: {why}.", "job", job_id=job_id)


def matching(bb: Backburner, f: JobFilter, cap: int) -> list[str]:
    """Ids of up to `cap` jobs the filter matches and the Jobs page would list."""
    ids: list[str] = []
    after = None
    while len(ids) < cap:
        page = bb.store.find_jobs(f, after=after, limit=SCAN_PAGE)
        ids += [r.id for r in visible(page.jobs, f)]
        if page.after is None or page.scanned is not None:
            break  # the end, or as far as a search goes (as the Jobs page says)
        after = page.after
    return ids[:cap]


def count(bb: Backburner, f: JobFilter) -> int:
    """How many jobs a bulk action would take, up to BULK_CAP (a search counts only
    what the list shows: hidden arguments must not be counted into view)."""
    if f.search is not None:
        return len(matching(bb, f, BULK_CAP))
    return bb.store.count_jobs(f, BULK_CAP)


def bulk_action(args: dict[str, str]) -> tuple[str, JobFilter]:
    action = args.get("action", "")
    f = job_filter(args)
    if action not in BULK_ACTIONS:
        abort(400, "action must be retry or delete")
    allowed = (JobStatus.FAILED, JobStatus.CANCELLED) if action == "retry" else FINISHED
    if f.status not in allowed:
        abort(400, f"{action} all: filter by a status first ({', '.join(sorted(allowed))})")
    return action, f


def confirm() -> Response:
    """GET: the count of jobs a bulk action would take, and its confirm button."""
    action, f = bulk_action(request.args)
    return render(
        "confirm.html",
        action=action,
        filter=f,
        query=filter_args(f),
        count=count(current(), f),
        cap=BULK_CAP,
    )


def bulk() -> Response:
    action, f = bulk_action(request.form)
    confirmed = request.form.get("count", type=int)
    if confirmed is None or not 0 < confirmed <= BULK_CAP:
        abort(400, "confirm the count on the confirm page first")
    bb = current()
    ids = matching(bb, f, confirmed)
    if action == "retry":
        acted = sum(1 for job_id in ids if bb.store.retry(job_id))
    else:
        acted = bb.store.delete_jobs(ids)
    target = audit.filter_text(**filter_args(f))
    record(f"{action}_matching", target, f"{acted} jobs")
    verb = "queued again" if action == "retry" else "deleted"
    return done(f"{acted} of {len(ids)} jobs {verb}.", "jobs", **filter_args(f))


def queue_action(action: str, act: Callable[[Backburner, str], None]) -> Callable[[], Response]:
    def view() -> Response:
        queue = request.form.get("queue", "")
        if not queue:
            abort(400, "which queue? (form field 'queue')")
        try:
            act(current(), queue)
        except ValueError as exc:  # not a queue name (control characters, too long)
            abort(400, str(exc))
        record(action, queue)
        return done(f"Queue {queue} {action}d.", "queues")

    view.__name__ = action
    return view


def run_schedule() -> Response:
    bb = current()
    name = request.form.get("schedule", "")
    schedule = bb.schedules.get(name)
    if schedule is None:
        abort(404, "no such schedule in this app")
    now = time.time()
    [job] = submit(bb, [schedule.job_record(now, now)])
    record("run_schedule", name, f"job {job.id}")
    return done(f"Schedule {name} ran now: job {job.id}.", "job", job_id=job.id)


def install(blueprint: Blueprint) -> None:
    """Add the actions' routes to the dashboard blueprint."""
    post = ["POST"]
    blueprint.add_url_rule("/jobs/<job_id>/retry", "retry", retry, methods=post)
    blueprint.add_url_rule("/jobs/<job_id>/cancel", "cancel", cancel, methods=post)
    blueprint.add_url_rule("/jobs/<job_id>/delete", "delete", delete, methods=post)
    blueprint.add_url_rule("/bulk", "confirm", confirm)
    blueprint.add_url_rule("/bulk", "bulk", bulk, methods=post)
    blueprint.add_url_rule(
        "/queues/pause", "pause", queue_action("pause", Backburner.pause), methods=post
    )
    blueprint.add_url_rule(
        "/queues/resume", "resume", queue_action("resume", Backburner.resume), methods=post
    )
    blueprint.add_url_rule("/periodic/run", "run_schedule", run_schedule, methods=post)
