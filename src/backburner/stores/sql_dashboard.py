"""The dashboard's statements, shared by the SQL stores: finding and counting jobs with
bounded work, and deleting finished jobs one by one.

How `find_jobs` stays bounded at any size: it walks the jobs newest first (seq, the
primary key, descending) from its cursor, and examines at most `scan_limit` of them,
which an inner `ORDER BY seq DESC LIMIT` caps before any other filter applies. For
failed and cancelled jobs a partial index lists just those rows by seq, so the walk goes
over them only and a few failed jobs among a million are all found. A
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

#: Statuses a partial index lists by seq (bb_jobs_failed, bb_jobs_cancelled).
INDEXED = (JobStatus.FAILED, JobStatus.CANCELLED)

Mark = Callable[[str], str]


def walked(filter: JobFilter, below: int | None, mark: Mark) -> tuple[str, dict[str, Any]]:
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
    return " AND ".join(clauses), params


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
    walk, params = walked(filter, below, mark)
    keep, more = kept(filter, now, mark, find)
    rows = f"SELECT * FROM {{jobs}} WHERE {walk} ORDER BY seq DESC LIMIT {mark('scan')}"
    page = (
        f"SELECT {columns} FROM ({rows}) AS walked WHERE {keep} "
        f"{'ORDER BY seq DESC ' if ordered else ''}LIMIT {mark('limit')}"
    )
    extent = (
        f"SELECT count(*), min(seq) FROM (SELECT seq FROM {{jobs}} WHERE {walk} "
        f"ORDER BY seq DESC LIMIT {mark('scan')}) AS walked"
    )
    return page, extent, {**params, **more}


def count_sql(filter: JobFilter, now: float, mark: Mark, find: str) -> tuple[str, dict[str, Any]]:
    """The statement counting the matches among the rows walked, up to `cap` (add `scan`
    and `cap` to its parameters)."""
    walk, params = walked(filter, None, mark)
    keep, more = kept(filter, now, mark, find)
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM (SELECT * FROM {{jobs}} WHERE {walk} "
        f"ORDER BY seq DESC LIMIT {mark('scan')}) AS walked WHERE {keep} "
        f"LIMIT {mark('cap')}) AS found"
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
