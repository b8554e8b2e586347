"""The dashboard's read-only pages other than jobs: Overview, Queues, Workers, Periodic
and Audit. Each reads a bounded amount from the store, whatever it holds: the gauges of
pending jobs (`Store.stats`, through the claim indexes), an hour of per-minute history
and a day of hourly sums, live workers, schedules' last ticks, a page of the audit log."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from ..app import Backburner
from ..errors import BackburnerError
from ..explain import LIVE_LEASES
from ..job import JobStatus
from ..task import Task
from ..throttle import parse_rate
from ..urls import scrub
from . import shown
from .guard import dashboard

HOUR = 3600.0
PENDING_COLUMNS = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.WAITING, JobStatus.RUNNING)
AUDIT_PAGE = 100
FLASH = "bb_flash"


def current() -> Backburner:
    """The Backburner this request shows."""
    return dashboard().backburner()


def render(template: str, live: str | None = None, **context: Any) -> Response:
    """A page (or, with ?fragment=1, its `live` part only: what the page's script polls),
    with the common context: the time, formatting helpers, the last action's message."""
    bb = current()
    fragment = live is not None and request.args.get("fragment") == "1"
    response = make_response(
        render_template(
            f"bb_dashboard/{live if fragment else template}",
            now=time.time(),
            ago=shown.ago,
            utc=shown.utc,
            store_kind=urlsplit(bb.url).scheme,
            fragment=fragment,
            flash=request.cookies.get(FLASH),
            **context,
        )
    )
    if FLASH in request.cookies and not fragment:
        response.delete_cookie(FLASH, path=dashboard().cookie_path())
    return response


def alive_since(bb: Backburner, now: float) -> float:
    """Workers that heartbeated since then are live (as `backburner status` counts)."""
    return now - LIVE_LEASES * bb.settings.lease


@dataclass
class QueueRow:
    """One queue as the Overview and Queues pages show it."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    oldest_due: float | None = None
    paused: bool = False
    hour: dict[str, int] = field(default_factory=dict)
    limits: list[dict[str, Any]] = field(default_factory=list)


def queue_rows(bb: Backburner, now: float, points: list[Any]) -> tuple[list[QueueRow], int]:
    """Every queue the store or the app knows, with its pending jobs by status, the
    oldest due job's run_at, whether paused, and the last hour's outcomes; and the number
    of live workers."""
    stats = bb.store.stats(now, alive_since(bb, now))
    paused = bb.store.paused_queues()
    names = set(stats.jobs) | paused | {t.queue for t in bb.tasks.values()}
    names |= {p.queue for p in points}
    rows = []
    for name in sorted(names):
        counts = stats.jobs.get(name, {})
        hour: dict[str, int] = {}
        for p in points:
            if p.queue == name and p.minute >= now - HOUR:
                hour[p.outcome] = hour.get(p.outcome, 0) + p.count
        rows.append(
            QueueRow(
                name,
                {s.value: counts.get(s, 0) for s in PENDING_COLUMNS},
                stats.oldest_due.get(name),
                name in paused,
                hour,
            )
        )
    return rows, stats.workers


def overview() -> Response:
    bb, now = current(), time.time()
    # per minute for the last hour; per hour for the day, summed by the store
    minutes = bb.store.history(shown.chart_start(now, 60, 60.0))
    hours = bb.store.history(shown.chart_start(now, 24, HOUR), step=int(HOUR))
    rows, workers = queue_rows(bb, now, minutes)
    return render(
        "overview.html",
        "_overview_live.html",
        queues=rows,
        workers=workers,
        charts=[
            shown.chart(minutes, now, "Last hour (per minute)", 60, 60.0),
            shown.chart(hours, now, "Last day (per hour)", 24, HOUR),
        ],
    )


def task_limits(bb: Backburner, task: Task[Any, Any]) -> dict[str, Any] | None:
    """A task's concurrency and rate limits, with who holds them where the key is the
    task's own (a per-key limit has one set of holders per key: not listed)."""
    o = task.opts
    if o.concurrency is None and o.rate is None:
        return None
    limit: dict[str, Any] = {"task": task.name}
    if o.concurrency is not None:
        limit["concurrency"] = o.concurrency
        limit["per_key"] = o.concurrency_key is not None
        if o.concurrency_key is None:
            limit["holders"] = bb.store.concurrency_holders(task.name)
    if o.rate is not None:
        limit["rate"] = o.rate
        limit["rate_per_key"] = o.rate_key is not None
        if o.rate_key is None:
            limit["full_until"] = bb.store.rate_window_until(task.name, parse_rate(o.rate).limit)
    return limit


def queues() -> Response:
    bb, now = current(), time.time()
    rows, _ = queue_rows(bb, now, bb.store.history(now - HOUR))
    for row in rows:
        for task in bb.tasks.values():
            limit = task_limits(bb, task) if task.queue == row.name else None
            if limit is not None:
                row.limits.append(limit)
    return render("queues.html", queues=rows)


def workers() -> Response:
    bb, now = current(), time.time()
    found = sorted(bb.store.list_workers(alive_since(bb, now)), key=lambda w: (w.host, w.pid))
    return render("workers.html", workers=found)


def periodic() -> Response:
    bb = current()
    schedules = sorted(bb.schedules.values(), key=lambda s: s.name)
    ticks = bb.store.last_ticks([s.name for s in schedules]) if schedules else {}
    outcomes = {}
    for tick in ticks.values():
        if tick.job_id is not None:
            job = bb.store.get(tick.job_id, light=True)
            outcomes[tick.schedule] = job.status.value if job is not None else "purged"
    rows = [
        {
            "schedule": s,
            "next": s.next_run().timestamp(),
            "tick": ticks.get(s.name),
            "outcome": outcomes.get(s.name),
        }
        for s in schedules
    ]
    return render("periodic.html", schedules=rows)


def audit() -> Response:
    bb = current()
    before = shown.seq_arg(request.args.get("before")) or None
    entries = bb.store.audit_log(limit=AUDIT_PAGE, before=before)
    older = entries[-1].seq if len(entries) == AUDIT_PAGE else None
    return render("audit.html", entries=entries, older=older)


def store_down(exc: BackburnerError) -> tuple[str, int]:
    """The 503 page when the store cannot be read."""
    text = render_template(
        "bb_dashboard/error.html", title="Store unavailable", message=scrub(str(exc), current().url)
    )
    return text, 503


def refused(exc: HTTPException) -> tuple[str, int]:
    """400, 403, 404 and 405 as a dashboard page (its message escaped, as every value)."""
    text = render_template(
        "bb_dashboard/error.html", title=f"{exc.code} {exc.name}", message=exc.description
    )
    return text, exc.code or 500


def install(blueprint: Blueprint) -> None:
    """Add the pages' routes to the dashboard blueprint."""
    blueprint.add_url_rule("/", "overview", overview)
    blueprint.add_url_rule("/queues", "queues", queues)
    blueprint.add_url_rule("/workers", "workers", workers)
    blueprint.add_url_rule("/periodic", "periodic", periodic)
    blueprint.add_url_rule("/audit", "audit", audit)
    blueprint.register_error_handler(BackburnerError, store_down)
    for code in (400, 403, 404, 405):
        blueprint.register_error_handler(code, refused)
