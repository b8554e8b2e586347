"""The Jobs page (filters, search, keyset pages) and a job's page, with its log and
progress streamed live (`<id>/events`, Server-Sent Events, and `<id>/poll` for browsers
where the stream fails).

The list reads one page of light records (`Store.find_jobs`: no arguments, no failure
history), however many jobs the store holds; a search that had to stop says how many of
the newest jobs it searched. A match the store made in hidden arguments is dropped (see
`shown.shows_match`), and not counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from .. import codec
from ..errors import BackburnerError
from ..flask_events import KEEPALIVE, POLL, RETRY_MS, STREAM_SECONDS
from ..job import FINISHED, JobRecord, JobStatus
from ..stores.base import JobFilter, JobPage, Store
from . import shown
from .pages import current, render

PAGE = 50
SEARCH_READS = 5  # store pages a search reads at most to fill one page of the list
LONGEST_ID = 255  # no job id is longer; a longer one is not looked up


def job_filter(args: Any) -> JobFilter:
    """The filter the query string names (unknown statuses and empty fields ignored)."""
    status = args.get("status") or None
    statuses = {s.value for s in JobStatus}
    return JobFilter(
        status=JobStatus(status) if status in statuses else None,
        queue=args.get("queue") or None,
        task=args.get("task") or None,
        search=(args.get("q") or "").strip() or None,
    )


def filter_args(f: JobFilter) -> dict[str, str]:
    """The query string of a filter (for links and forms)."""
    values = {
        "status": f.status.value if f.status else "",
        "queue": f.queue or "",
        "task": f.task or "",
        "q": f.search or "",
    }
    return {k: v for k, v in values.items() if v}


def visible(jobs: list[JobRecord], f: JobFilter) -> list[JobRecord]:
    """The jobs a search may list (not those it matched in hidden arguments only)."""
    if f.search is None:
        return jobs
    bb = current()
    return [r for r in jobs if shown.shows_match(bb, r, f.search)]


def find(f: JobFilter, after: str | None) -> tuple[list[JobRecord], JobPage]:
    """A page of jobs to list, and the store's last page (its cursor, how far it searched).

    A search reads on while matches in hidden arguments leave the page short (up to
    SEARCH_READS store pages), so that whether the term is in someone's hidden arguments
    shows neither as a count nor, short of hundreds of such jobs, as a short page with a
    link to more."""
    store = current().store
    rows: list[JobRecord] = []
    for _ in range(SEARCH_READS):
        page = store.find_jobs(f, after=after, limit=PAGE - len(rows))
        rows += visible(page.jobs, f)
        if len(rows) >= PAGE or page.after is None or page.scanned is not None:
            break
        after = page.after
    return rows, page


def jobs() -> Response:
    bb = current()
    f = job_filter(request.args)
    after = request.args.get("after") or None
    try:
        rows, page = find(f, after)
    except (ValueError, OverflowError):  # a cursor no page gave (edited by hand)
        abort(400, "this page link is not valid: start again from the newest jobs")
    # the app's queues and the paused ones: counting every queue's jobs (Store.stats)
    # would cost the Overview's price again for a drop-down
    queues = {t.queue for t in bb.tasks.values()} | bb.store.paused_queues()
    queues |= {f.queue} if f.queue else set()
    return render(
        "jobs.html",
        "_jobs_live.html" if after is None else None,
        jobs=rows,
        page=page,
        filter=f,
        query=filter_args(f),
        after=after,
        statuses=[s.value for s in JobStatus],
        queues=sorted(queues),
        tasks=sorted(bb.tasks),
        bulk_retry=f.status in (JobStatus.FAILED, JobStatus.CANCELLED),
        bulk_delete=f.status in FINISHED,
    )


def load(job_id: str, *, light: bool = False) -> JobRecord:
    """The job, or a 404."""
    if len(job_id) > LONGEST_ID:
        abort(404)
    record = current().store.get(job_id, light=light)
    if record is None:
        abort(404, "no such job: it may have been purged")
    return record


def job(job_id: str) -> Response:
    bb = current()
    record = load(job_id)
    lines = bb.store.logs(job_id)
    result = None
    if record.status is JobStatus.SUCCEEDED and record.result is not None:
        result = _pretty(record.result)
    arguments = shown.arguments(bb, record)
    explanation = bb.explain(job_id)
    if arguments is None:  # keys worked out from the arguments are hidden with them
        for key in (record.unique_key, record.concurrency_key, record.rate_key):
            if key:
                # `explain` quotes keys with repr()
                explanation = explanation.replace(repr(key), "(a key hidden with the arguments)")
    return render(
        "job.html",
        job=record,
        arguments=arguments,
        result=result,
        attempts=list(reversed(record.failures)),
        lines=lines,
        last_seq=lines[-1].seq if lines else 0,
        dependencies=bb.store.links(record.depends_on),
        dependents=bb.store.dependents(job_id),
        explanation=explanation,
        finished=record.status in FINISHED,
        progress=progress_view(record),
    )


def _pretty(text: str) -> str:
    try:
        return json.dumps(codec.loads_plain(text), indent=2, ensure_ascii=False)
    except (ValueError, TypeError):
        return text


def progress_view(record: JobRecord) -> dict[str, Any]:
    """{"done", "total", "message", "share" (0-100, None when unknown)} of a job."""
    p = record.progress or {}
    done, total = p.get("done"), p.get("total")
    share = None
    if record.status is JobStatus.SUCCEEDED:
        share = 100.0
    elif isinstance(done, (int, float)) and isinstance(total, (int, float)) and total > 0:
        share = max(0.0, min(100.0, 100.0 * done / total))
    return {"done": done, "total": total, "message": p.get("message") or "", "share": share}


def state(record: JobRecord) -> dict[str, Any]:
    """What the live part of a job's page shows: status, attempts, progress, error."""
    return {
        "status": record.status.value,
        "attempts": record.attempts,
        "max_attempts": record.max_attempts,
        "progress": progress_view(record),
        "error": (record.error or "").split("\n", 1)[0],
        "finished": record.status in FINISHED,
    }


def poll(job_id: str) -> Response:
    """The job's state and its log lines after `after`: the fallback of the event stream."""
    record = load(job_id, light=True)
    lines = current().store.logs(job_id, after=shown.seq_arg(request.args.get("after")))
    return jsonify(state=state(record), lines=[line.to_json() for line in lines])


def events(job_id: str) -> Response:
    """`state` events when the job changes, `log` events as lines arrive; ends when the
    job has finished (an event `end`) or after BACKBURNER_STREAM_SECONDS (default 25, as
    the job API's stream: the browser reconnects, resuming after its Last-Event-ID)."""
    record = load(job_id, light=True)
    after = shown.seq_arg(request.headers.get("Last-Event-ID") or request.args.get("after"))
    # the store now: the stream runs after this request's context is gone
    seconds = float(current_app.config.get("BACKBURNER_STREAM_SECONDS", STREAM_SECONDS))
    response = Response(
        _stream(current().store, record, after, seconds), mimetype="text/event-stream"
    )
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _stream(store: Store, record: JobRecord, after: int, seconds: float) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    deadline, quiet_since = time.monotonic() + seconds, time.monotonic()
    sent: dict[str, Any] = {}
    while True:
        try:
            chunk = ""
            for line in store.logs(record.id, after=after):
                after = line.seq
                chunk += _event("log", line.to_json(), after)
            data = state(record)
            if data != sent:
                sent = data
                chunk += _event("state", data, after)
            if data["finished"]:
                chunk += _event("end", {}, after)
        except BackburnerError:
            return  # the browser reconnects; the page falls back to polling if it fails
        if chunk:
            quiet_since = time.monotonic()
            yield chunk
        elif time.monotonic() - quiet_since > KEEPALIVE:
            quiet_since = time.monotonic()
            yield ": still running\n\n"
        if sent["finished"] or time.monotonic() >= deadline:
            return
        time.sleep(POLL)
        try:
            found = store.get(record.id, light=True)
        except BackburnerError:
            return
        if found is None:
            return
        record = found


def _event(name: str, data: Any, seq: int) -> str:
    return f"event: {name}\nid: {seq}\ndata: {json.dumps(data)}\n\n"


def install(blueprint: Blueprint) -> None:
    """Add the job pages' routes to the dashboard blueprint."""
    blueprint.add_url_rule("/jobs", "jobs", jobs)
    blueprint.add_url_rule("/jobs/<job_id>", "job", job)
    blueprint.add_url_rule("/jobs/<job_id>/poll", "poll", poll)
    blueprint.add_url_rule("/jobs/<job_id>/events", "events", events)
