"""The PostgreSQL store's insert of new jobs: one statement per CHUNK jobs (unnest of
arrays), unique keys resolved against live jobs, dependencies counted and recorded (see
postgres_deps.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from ..errors import BackburnerError
from ..job import JobRecord
from . import postgres_deps
from .deps import Start

Connection = Any  # psycopg.Connection[Any]

CHUNK = 5000  # jobs per insert statement; a bigger batch is several, in one transaction
_UNIQUE_RETRIES = 10
_FIELDS = (
    "id",
    "task",
    "queue",
    "payload",
    "priority",
    "run_at",
    "created_at",
    "max_attempts",
    "retry_backoff",
    "timeout",
    "unique_key",
    "trace_context",
    "concurrency",
    "concurrency_key",
    "rate_limit",
    "rate_period",
    "rate_key",
)


def _fetch(
    conn: Connection, query: str, params: Any, prepare: bool | None
) -> list[tuple[Any, ...]]:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query, params, prepare=prepare)
        return cur.fetchall() if cur.description is not None else []


def insert(
    conn: Connection,
    sql: Mapping[str, str],
    channel: str,
    records: Sequence[JobRecord],
    prepare: bool | None,
) -> list[str]:
    """Store `records` on `conn` (see Store.enqueue): statements of up to CHUNK jobs, or
    one COPY for a bigger batch of plain jobs; the caller makes them one transaction when
    there are several."""
    try:
        if len(records) > CHUNK and not any(r.unique_key or r.depends_on for r in records):
            return _copy(conn, sql, channel, records)
        starts = postgres_deps.starts(conn, sql, records, prepare)
        ids: list[str] = []
        for i in range(0, len(records), CHUNK):
            part = slice(i, i + CHUNK)
            ids += _insert_rows(conn, sql, channel, records[part], starts[part], prepare)
        postgres_deps.add_edges(conn, sql, records, ids, prepare)
        return ids
    except psycopg.errors.UniqueViolation as exc:
        raise ValueError(
            f"job id already stored: {exc.diag.message_detail or exc}; nothing was enqueued"
        ) from exc


def _copy(
    conn: Connection, sql: Mapping[str, str], channel: str, records: Sequence[JobRecord]
) -> list[str]:
    """A big batch of jobs without unique keys or dependencies: COPY, the fastest way in."""
    with conn.cursor() as cur, cur.copy(sql["copy_jobs"]) as copy:
        for r in records:
            copy.write_row(
                (
                    r.id,
                    r.task,
                    r.queue,
                    r.payload,
                    r.priority,
                    "queued",
                    r.run_at,
                    r.created_at,
                    r.max_attempts,
                    r.retry_backoff,
                    r.timeout,
                    r.trace_context,
                    r.concurrency,
                    r.concurrency_key,
                    r.rate_limit,
                    r.rate_period,
                    r.rate_key,
                )
            )
    queues = sorted({r.queue for r in records})
    _fetch(conn, sql["notify"], {"channel": channel, "queues": queues}, None)
    return [r.id for r in records]


def _insert_rows(
    conn: Connection,
    sql: Mapping[str, str],
    channel: str,
    records: Sequence[JobRecord],
    starts: Sequence[Start],
    prepare: bool | None,
) -> list[str]:
    stored: dict[str, str] = {}  # record id -> id of the job that holds its place
    todo = list(records)
    start_of = dict(zip((r.id for r in records), starts))
    for _ in range(_UNIQUE_RETRIES):
        statement = _statement(sql, channel, todo, [start_of[r.id] for r in todo])
        inserted = _fetch(conn, *statement, prepare)
        stored.update((job_id, job_id) for job_id, _ in inserted)
        skipped = [r for r in todo if r.id not in stored]
        if skipped:
            # the live job holding each skipped record's unique_key (maybe one of ours)
            keys = {"keys": [r.unique_key for r in skipped]}
            live = dict(_fetch(conn, sql["live_keys"], keys, prepare))
            stored.update((r.id, live[r.unique_key]) for r in skipped if r.unique_key in live)
        # a holder that finished between the two statements freed its key: try again
        todo = [r for r in skipped if r.id not in stored]
        if not todo:
            return [stored[r.id] for r in records]
    raise BackburnerError(
        f"unique_key(s) {sorted({str(r.unique_key) for r in todo})} kept changing hands "
        "while enqueueing; nothing was enqueued, try again"
    )


def _statement(
    sql: Mapping[str, str], channel: str, records: Sequence[JobRecord], starts: Sequence[Start]
) -> tuple[str, dict[str, Any]]:
    columns = postgres_deps.start_columns(records, starts, time.time())
    if len(records) == 1:
        params = {f: getattr(records[0], f) for f in _FIELDS}
        params.update((name, values[0]) for name, values in columns.items())
        query = sql["insert_one"]
    else:
        params = {f: [getattr(r, f) for r in records] for f in _FIELDS}
        params.update(columns)
        query = sql["insert"]
    params["channel"] = channel
    return query, params
