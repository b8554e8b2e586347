"""Job logs in the PostgreSQL store: the bb_logs table (postgres_0001_initial.sql), whose
rows go with their job (ON DELETE CASCADE)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from psycopg.rows import tuple_row

from ..logs import LogLine

if TYPE_CHECKING:
    from .postgres_conn import Connection

# Lines are numbered on from the job's last: one appender per job at a time, which a
# transaction-scoped advisory lock on the job's id ensures (a lapsed attempt's worker may
# still be writing while the next attempt starts). FOR KEY SHARE keeps the job from
# being deleted before the lines are in, without blocking its updates.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_APPEND = """
WITH job AS (SELECT id FROM {jobs} WHERE id = %(job)s FOR KEY SHARE),
     last AS (SELECT coalesce(max(seq), 0) AS n FROM {logs} WHERE job_id = %(job)s)
INSERT INTO {logs} (job_id, seq, attempt, at, stream, level, message)
SELECT job.id, last.n + r.ord, r.attempt, r.at, r.stream, r.level, r.message
FROM job, last, unnest(
    %(attempt)s::integer[], %(at)s::float8[], %(stream)s::text[], %(level)s::text[],
    %(message)s::text[]
) WITH ORDINALITY AS r(attempt, at, stream, level, message, ord)
"""
_SELECT = (
    "SELECT seq, attempt, at, stream, level, message FROM {logs} WHERE job_id = %s AND seq > %s"
)


class PostgresLogs:
    """`append_logs` and `logs` of PostgresStore."""

    if TYPE_CHECKING:
        schema: str

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

    def _logs_sql(self, template: str) -> str:
        # parse_url allows [A-Za-z0-9_] only in a schema name
        return template.format(jobs=f'"{self.schema}".bb_jobs', logs=f'"{self.schema}".bb_logs')

    def append_logs(self, lines: Mapping[str, Sequence[LogLine]]) -> None:
        """See `Store.append_logs`: every job's lines in one transaction."""
        batches = [(job_id, added) for job_id, added in lines.items() if added]
        if not batches:
            return
        append = self._logs_sql(_APPEND)
        with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            for job_id, added in batches:
                cur.execute(_LOCK, (f"backburner.logs:{self.schema}:{job_id}",))
                cur.execute(append, _columns(job_id, added))

    def logs(self, job_id: str, *, attempt: int | None = None, after: int = 0) -> list[LogLine]:
        """See `Store.logs`."""
        if "\x00" in job_id:  # text cannot hold a NUL: no job has such an id
            return []
        sql, params = self._logs_sql(_SELECT), [job_id, after]
        if attempt is not None:
            sql += " AND attempt = %s"
            params.append(attempt)
        with self._conn() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql + " ORDER BY seq", params)
            found = cur.fetchall()
        return [
            LogLine(at, n, stream, level, text, seq) for seq, n, at, stream, level, text in found
        ]


def _columns(job_id: str, lines: Sequence[LogLine]) -> dict[str, Any]:
    def column(name: str) -> list[Any]:
        return [getattr(line, name) for line in lines]

    return {
        "job": job_id,
        **{name: column(name) for name in ("attempt", "at", "stream", "level", "message")},
    }
