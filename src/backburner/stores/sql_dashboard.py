"""The dashboard's statements, shared by the SQL stores: finding and counting jobs with
bounded work, and deleting finished jobs one by one.

How `find_jobs` stays bounded at any size: it walks the jobs newest first (seq, the
primary key, descending) from its cursor, and examines at most `scan_limit` of them,
which an inner `ORDER BY seq DESC LIMIT` caps before any other filter applies. For
finished jobs a partial index per status lists just those rows by seq, so the walk goes
over them only and a few failed jobs among a million are all found, however many pending
jobs are newer. Scheduled, running and waiting jobs are few and in partial indexes of their
own (the claim's, the leases', the dependencies'): the walk reads their seqs from there
and sorts them, so a backlog of queued jobs newer than them hides none. A
second, index-only statement counts the rows the walk covered when the page is not full,
so the caller can say where a search stopped (`JobPage.scanned`).

Statements are built with the store's placeholder style (`mark("name")`: ":name" for
SQLite, "%(name)s" for psycopg) and its substring function (instr, strpos: both take
the text, then what to find), and `{jobs}` for the jobs table's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..job import JobStatus
from .base import JobFilter

#: Statuses a partial index lists by seq (bb_jobs_succeeded, _failed, _cancelled).
INDEXED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
#: Statuses whose rows a partial index lists in another order (bb_jobs_due or
#: bb_jobs_claim, bb_jobs_lease, bb_jobs_waiting): the walk sorts their seqs.
SORTED = {
    JobStatus.SCHEDULED: "status = 'queued' AND run_at > {now}",
    JobStatus.RUNNING: "status = 'running'",
    JobStatus.WAITING: "status = 'waiting'",
}

Mark = Callable[[str], str]


def walked(
    filter: JobFilter, below: int | None, now: float, mark: Mark
) -> tuple[str, dict[str, Any]]:
    """WHERE clause of the rows the walk goes over, newest first: those below the cursor,
    of the filter's status when an index lists it. Every other filter is `kept`'s."""
    clauses: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    if below is not None:
        clauses.append(f"seq < {mark('below')}")
        params["below"] = below
    if filter.status in INDEXED:
        # a literal, not a parameter: the planner can then match the partial index
        clauses.append(f"status = '{filter.status.value}'")
    elif filter.status in SORTED:
        clauses.append(SORTED[filter.status].format(now=mark("now")))
        params["now"] = now
    return " AND ".join(clauses), params


def walk_sql(filter: JobFilter, walk: str, mark: Mark) -> str:
    """The rows walked: the newest `scan` rows matching `walk`, newest first. A SORTED
    status's seqs are read from its partial index and sorted (`+seq`: no walk of the
    primary key, which would pass over every other row), then their rows fetched."""
    if filter.status not in SORTED:
        return f"SELECT * FROM {{jobs}} WHERE {walk} ORDER BY seq DESC LIMIT {mark('scan')}"
    seqs = f"SELECT seq FROM {{jobs}} WHERE {walk} ORDER BY +seq DESC LIMIT {mark('scan')}"
    return f"SELECT j.* FROM ({seqs}) AS w JOIN {{jobs}} AS j ON j.seq = w.seq"


def kept(filter: JobFilter, now: float, mark: Mark, find: str) -> tuple[str, dict[str, Any]]:
    """WHERE clause that keeps, of the rows walked, those matching every filter."""
    clauses: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    status = filter.status
    if status is JobStatus.SCHEDULED or status is JobStatus.QUEUED:
        due = ">" if status is JobStatus.SCHEDULED else "<="
        clauses.append(f"status = 'queued' AND run_at {due} {mark('now')}")
        params["now"] = now
    elif status is not None and status not in INDEXED:
        clauses.append(f"status = '{status.value}'")
    for column in ("queue", "task"):
        value = getattr(filter, column)
        if value is not None:
            clauses.append(f"{column} = {mark(column)}")
            params[column] = value
    if filter.search is not None:
        text = mark("search")
        clauses.append(f"(id = {text} OR {find}(task, {text}) > 0 OR {find}(payload, {text}) > 0)")
        params["search"] = filter.search
    return " AND ".join(clauses), params


def find_sql(
    filter: JobFilter,
    below: int | None,
    now: float,
    mark: Mark,
    find: str,
    columns: str,
    ordered: bool,
) -> tuple[str, str, dict[str, Any]]:
    """The page statement (its rows: `columns`, then up to `limit` + 1 of them) and the
    statement counting the rows walked and the lowest seq among them, with their
    parameters (add `scan` and `limit`). `ordered`: repeat the ORDER BY outside, for
    PostgreSQL, whose planner knows the rows come sorted; SQLite would sort them all
    again, and keeps the inner order anyway (the walk is a co-routine it reads in turn)."""
    walk, params = walked(filter, below, now, mark)
    keep, more = kept(filter, now, mark, find)
    rows = walk_sql(filter, walk, mark)
    ordered = ordered or filter.status in SORTED  # a join: no order without ORDER BY
    page = (
        f"SELECT {columns} FROM ({rows}) AS walked WHERE {keep} "
        f"{'ORDER BY seq DESC ' if ordered else ''}LIMIT {mark('limit')}"
    )
    order = "+seq" if filter.status in SORTED else "seq"
    extent = (
        f"SELECT count(*), min(seq) FROM (SELECT seq FROM {{jobs}} WHERE {walk} "
        f"ORDER BY {order} DESC LIMIT {mark('scan')}) AS walked"
    )
    return page, extent, {**params, **more}


def count_sql(filter: JobFilter, now: float, mark: Mark, find: str) -> tuple[str, dict[str, Any]]:
    """The statement counting the matches among the rows walked, up to `cap` (add `scan`
    and `cap` to its parameters)."""
    walk, params = walked(filter, None, now, mark)
    keep, more = kept(filter, now, mark, find)
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM ({walk_sql(filter, walk, mark)}) AS walked "
        f"WHERE {keep} LIMIT {mark('cap')}) AS found"
    )
    return sql, {**params, **more}


#: What `delete_jobs` may delete of the jobs `f` named: finished ones whose dependents
#: have all finished (one that has not may need the result, as in purge).
DELETABLE = (
    "f.status IN ('succeeded', 'failed', 'cancelled') AND NOT EXISTS ("
    "SELECT 1 FROM {deps} AS e JOIN {jobs} AS j ON j.id = e.job_id "
    "WHERE e.dep_id = f.id AND j.status IN ('waiting', 'queued', 'running'))"
)
DELETE_BATCH = 500  # ids per statement: SQLite takes at most 32,766 parameters
