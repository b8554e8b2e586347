"""The PostgreSQL store's dependency bookkeeping (see `stores.deps` for the rules), each
step a statement of postgres_queries.sql run in the transaction of the change it follows.

Why it is race free under READ COMMITTED: an enqueue reads its dependencies FOR SHARE,
so none of them ends while the new dependents are counted; a completion, ending, cancel
or retry runs these statements after its own UPDATE, each with a fresh snapshot, so they
see every dependent committed while that UPDATE waited; and the counts are lowered by
UPDATEs, which PostgreSQL re-applies to the newest row when two completions meet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg.rows import tuple_row

from ..job import JobRecord, JobStatus
from . import deps
from .deps import Start

Connection = Any  # psycopg.Connection[Any]
_PLAIN = Start(JobStatus.QUEUED, 0, None)


def _rows(
    conn: Connection, query: str, params: Mapping[str, Any], prepare: bool | None = None
) -> list[tuple[Any, ...]]:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query, params, prepare=prepare)
        return cur.fetchall() if cur.description is not None else []


def starts(
    conn: Connection, sql: Mapping[str, str], records: Sequence[JobRecord], prepare: bool | None
) -> list[Start]:
    """How each record starts, its stored dependencies locked FOR SHARE meanwhile."""
    if not any(r.depends_on for r in records):
        return [_PLAIN] * len(records)

    def stored(ids: Sequence[str]) -> dict[str, JobStatus]:
        found = _rows(conn, sql["dep_statuses"], {"ids": list(ids)}, prepare)
        return {job_id: JobStatus(status) for job_id, status in found}

    return deps.starts(records, stored)


def start_columns(
    records: Sequence[JobRecord], starts: Sequence[Start], now: float
) -> dict[str, list[Any]]:
    """The insert statement's arrays that come from `starts` and the dependencies."""
    return {
        "status": [s.status.value for s in starts],
        "waiting_for": [s.waiting_for for s in starts],
        "error": [s.error for s in starts],
        "finished_at": [None if s.error is None else now for s in starts],
        "depends_on": [json.dumps(r.depends_on) if r.depends_on else "[]" for r in records],
        "takes_results": [r.takes_results for r in records],
    }


def add_edges(
    conn: Connection,
    sql: Mapping[str, str],
    records: Sequence[JobRecord],
    ids: Sequence[str],
    prepare: bool | None,
) -> None:
    """Record who depends on whom for the records stored (a deduplicated dependency's
    edge goes to the live job that holds its place)."""
    holder = {r.id: job_id for r, job_id in zip(records, ids)}
    dep_ids, job_ids = [], []
    for r, job_id in zip(records, ids):
        if job_id == r.id:
            for dep in r.depends_on:
                dep_ids.append(holder.get(dep, dep))
                job_ids.append(r.id)
    if dep_ids:
        _rows(conn, sql["add_deps"], {"dep_ids": dep_ids, "job_ids": job_ids}, prepare)


def doom(
    conn: Connection, sql: Mapping[str, str], ended: Sequence[tuple[str, JobStatus]], now: float
) -> None:
    """Each of `ended` (id, FAILED or CANCELLED) cancels its waiting dependents, theirs in
    turn and so on: one statement per level."""
    causes = [(job_id, deps.reason(job_id, status)) for job_id, status in ended]
    while causes:
        params = {
            "ids": [c[0] for c in causes],
            "reasons": [c[1] for c in causes],
            "now": now,
        }
        cancelled = _rows(conn, sql["doom"], params)
        causes = [(job_id, deps.reason(job_id, JobStatus.CANCELLED)) for (job_id,) in cancelled]


def revive(conn: Connection, sql: Mapping[str, str], job_id: str) -> None:
    """`job_id` was retried by hand: bring back the jobs below it cancelled for it."""
    ids = [job_id]
    while ids:
        params = {"ids": ids, "pattern": deps.DEPENDENCY_FAILED + ":%"}
        ids = [found for (found,) in _rows(conn, sql["revive"], params)]
