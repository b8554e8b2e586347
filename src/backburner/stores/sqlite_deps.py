"""The SQLite store's bulk insert and dependency bookkeeping, each run inside the caller's
write transaction (so with the enqueue, completion, ending, cancel or retry it belongs to).

SQLite runs one write transaction at a time (BEGIN IMMEDIATE), so what is read here is
what is written: no other writer can slip in between. See `stores.deps` for the rules.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..job import JobRecord, JobStatus
from . import deps

_INSERT = (
    "INSERT INTO bb_jobs (id, task, queue, payload, priority, status, run_at, created_at, "
    "max_attempts, retry_backoff, timeout, unique_key, depends_on, takes_results, "
    "waiting_for, error, finished_at, trace_context, "
    "concurrency, concurrency_key, rate_limit, rate_period, rate_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# the same, for a batch without dependencies: fewer values to bind per job
_INSERT_PLAIN = (
    "INSERT INTO bb_jobs (id, task, queue, payload, priority, status, run_at, created_at, "
    "max_attempts, retry_backoff, timeout, unique_key, trace_context, "
    "concurrency, concurrency_key, rate_limit, rate_period, rate_key) "
    "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LIVE_KEY = (
    "SELECT id FROM bb_jobs WHERE unique_key = ? AND status IN ('waiting', 'queued', 'running')"
)
# one dependency fewer; a waiting job left with none is queued (SET reads the old row)
_RELEASE = (
    "UPDATE bb_jobs SET waiting_for = waiting_for - 1, "
    "status = CASE WHEN status = 'waiting' AND waiting_for <= 1 THEN 'queued' ELSE status END "
    "WHERE id = ? RETURNING status"
)
_CHUNK = 500  # ids per IN (...) list, under SQLite's limit on parameters


def insert(conn: sqlite3.Connection, records: Sequence[JobRecord]) -> list[str]:
    """Store `records` (see Store.enqueue): one executemany for the whole batch."""
    starts = (
        deps.starts(records, lambda ids: statuses(conn, ids))
        if any(r.depends_on for r in records)
        else None
    )
    ids: list[str] = []
    holder: dict[str, str] = {}  # a deduplicated record's id -> the live job holding its key
    keys: dict[str, str] = {}  # unique_key -> id, for the batch's own records
    rows: list[tuple[Any, ...]] = []
    edges: list[tuple[str, str]] = []
    now = time.time()
    for i, r in enumerate(records):
        start = starts[i] if starts is not None else None
        if r.unique_key is not None:
            found = keys.get(r.unique_key) or _live(conn, r.unique_key)
            if found is not None:
                ids.append(found)
                holder[r.id] = found
                continue
            keys[r.unique_key] = r.id
        ids.append(r.id)
        if start is None:
            rows.append(
                (
                    r.id,
                    r.task,
                    r.queue,
                    r.payload,
                    r.priority,
                    r.run_at,
                    r.created_at,
                    r.max_attempts,
                    r.retry_backoff,
                    r.timeout,
                    r.unique_key,
                    r.trace_context,
                    *_flow(r),
                )
            )
            continue
        status, waiting, error = start
        rows.append(
            (
                r.id,
                r.task,
                r.queue,
                r.payload,
                r.priority,
                status.value,
                r.run_at,
                r.created_at,
                r.max_attempts,
                r.retry_backoff,
                r.timeout,
                r.unique_key,
                json.dumps(r.depends_on) if r.depends_on else "[]",
                1 if r.takes_results else 0,
                waiting,
                error,
                now if error is not None else None,
                r.trace_context,
                *_flow(r),
            )
        )
        edges += ((holder.get(d, d), r.id) for d in r.depends_on)
    conn.executemany(_INSERT if starts is not None else _INSERT_PLAIN, rows)
    if edges:
        conn.executemany("INSERT OR IGNORE INTO bb_deps (dep_id, job_id) VALUES (?, ?)", edges)
    return ids


def _flow(r: JobRecord) -> tuple[Any, ...]:
    """A job's flow-control columns, in _INSERT's order."""
    return (r.concurrency, r.concurrency_key, r.rate_limit, r.rate_period, r.rate_key)


def _live(conn: sqlite3.Connection, unique_key: str) -> str | None:
    row = conn.execute(_LIVE_KEY, (unique_key,)).fetchone()
    return None if row is None else str(row[0])


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    return (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK))


def statuses(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, JobStatus]:
    """The stored status of each of `ids` that exists ('queued' for every pending job)."""
    found: dict[str, JobStatus] = {}
    for part in _chunks(ids):
        marks = ", ".join("?" * len(part))
        for job_id, status in conn.execute(
            f"SELECT id, status FROM bb_jobs WHERE id IN ({marks})", part
        ):
            found[job_id] = JobStatus(status)
    return found


def dependents(conn: sqlite3.Connection, ids: Sequence[str]) -> list[tuple[str, str]]:
    """(dependency, dependent) for each dependent of `ids`."""
    found: list[tuple[str, str]] = []
    for part in _chunks(ids):
        marks = ", ".join("?" * len(part))
        found += conn.execute(
            f"SELECT dep_id, job_id FROM bb_deps WHERE dep_id IN ({marks})",
            part,
        ).fetchall()
    return found


def release(conn: sqlite3.Connection, succeeded: Sequence[str]) -> bool:
    """`succeeded` jobs just succeeded: each dependent has one dependency fewer to wait
    for, and a WAITING one with none left is QUEUED. Returns whether any was."""
    edges = dependents(conn, succeeded) if succeeded else []
    if not edges:
        return False
    queued = False
    for _, job_id in edges:
        row = conn.execute(_RELEASE, (job_id,)).fetchone()
        queued = queued or (row is not None and row[0] == "queued")
    return queued


def doom(conn: sqlite3.Connection, ended: Sequence[tuple[str, JobStatus]], now: float) -> None:
    """Each of `ended` (id, FAILED or CANCELLED) cancels its WAITING dependents, theirs in
    turn and so on, each with the reason naming the dependency it lost."""
    frontier = list(ended)
    while frontier:
        how = dict(frontier)
        edges = dependents(conn, list(how))
        cancelled: list[tuple[str, JobStatus]] = []
        for dep_id, job_id in edges:
            row = conn.execute(
                "UPDATE bb_jobs SET status = 'cancelled', finished_at = ?, error = ? "
                "WHERE id = ? AND status = 'waiting' RETURNING id",
                (now, deps.reason(dep_id, how[dep_id]), job_id),
            ).fetchone()
            if row is not None:
                cancelled.append((job_id, JobStatus.CANCELLED))
        frontier = cancelled


def revive(conn: sqlite3.Connection, job_id: str) -> None:
    """`job_id` was retried by hand: jobs below it cancelled for a dependency wait again,
    transitively, unless another of their dependencies failed or was cancelled, or another
    live job took their unique_key meanwhile."""
    frontier = [job_id]
    while frontier:
        revived: list[str] = []
        for _, dependent in dependents(conn, frontier):
            row = conn.execute(
                "UPDATE bb_jobs SET status = 'waiting', finished_at = NULL, error = NULL "
                "WHERE id = ? AND status = 'cancelled' AND error LIKE ? AND NOT EXISTS ("
                "  SELECT 1 FROM bb_deps AS d JOIN bb_jobs AS j ON j.id = d.dep_id "
                "  WHERE d.job_id = bb_jobs.id AND j.status IN ('failed', 'cancelled')) "
                # nor while another live job holds its unique_key (it stays cancelled)
                "AND (unique_key IS NULL OR NOT EXISTS ("
                "  SELECT 1 FROM bb_jobs AS u WHERE u.unique_key = bb_jobs.unique_key "
                "  AND u.id != bb_jobs.id AND u.status IN ('waiting', 'queued', 'running'))) "
                "RETURNING id",
                (dependent, deps.DEPENDENCY_FAILED + ":%"),
            ).fetchone()
            if row is not None:
                revived.append(dependent)
        frontier = revived


def dependent_ids(conn: sqlite3.Connection, job_id: str) -> list[str]:
    """Ids of the jobs depending on `job_id`, oldest first."""
    found = conn.execute(
        "SELECT d.job_id FROM bb_deps AS d LEFT JOIN bb_jobs AS j ON j.id = d.job_id "
        "WHERE d.dep_id = ? ORDER BY j.seq",
        (job_id,),
    )
    return [row[0] for row in found]
