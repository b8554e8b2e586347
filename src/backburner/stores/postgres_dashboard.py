"""The PostgreSQL store's dashboard methods (a mixin): finding, counting and deleting
jobs (sql_dashboard's statements), and the bb_history and bb_audit tables
(postgres_0001_initial.sql)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..job import JobRecord
from . import sql_dashboard
from .base import AuditEntry, HistoryPoint
from .dashboard import check_step
from .postgres_conn import decoded, fetch

if TYPE_CHECKING:
    from .postgres_conn import Connection

# sorted keys: racing writers lock the rows they upsert in one order, never deadlocking
_ADD_HISTORY = """
INSERT INTO {history} (minute, queue, outcome, count)
SELECT * FROM unnest(%(minute)s::float8[], %(queue)s::text[], %(outcome)s::text[],
                     %(count)s::bigint[])
ON CONFLICT (minute, queue, outcome) DO UPDATE SET count = {history}.count + excluded.count
"""
_AUDIT_COLUMNS = "at, actor, action, target, detail, source"


class PostgresDashboard(sql_dashboard.SQLReads):
    """`find_jobs`, `count_jobs`, `delete_jobs`, history and audit of PostgresStore."""

    _find = "strpos"

    def _mark(self, name: str) -> str:
        return f"%({name})s"

    def _decode(self, text: str) -> Any:
        return decoded(text)

    if TYPE_CHECKING:
        schema: str
        scan_limit: int
        _jobs: str

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

        def get(self, job_id: str, *, light: bool = False) -> JobRecord | None: ...

    def _table(self, name: str) -> str:
        return f'"{self.schema}".{name}'  # parse_url allows [A-Za-z0-9_] only in a schema

    def _query(self, sql: str, params: dict[str, Any]) -> list[Any]:
        with self._conn() as conn:
            return fetch(conn, sql.format(jobs=self._jobs), params)

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        ids = [i for i in dict.fromkeys(job_ids) if "\x00" not in i]
        deletable = sql_dashboard.DELETABLE.format(jobs=self._jobs, deps=self._table("bb_deps"))
        # logs go with their job (ON DELETE CASCADE); dependency edges are deleted here
        sql = (
            f"WITH gone AS (DELETE FROM {self._jobs} AS f WHERE f.id = ANY(%(ids)s) AND "
            f"{deletable} RETURNING f.id), edges AS (DELETE FROM {self._table('bb_deps')} "
            "WHERE dep_id IN (SELECT id FROM gone) OR job_id IN (SELECT id FROM gone)) "
            "SELECT count(*) FROM gone"
        )
        # The finished jobs named are locked first, in id order as everyone locks jobs: an
        # enqueue holding one FOR SHARE for a new dependent commits before the lock is
        # ours, and the DELETE, a new statement, then sees that dependent (under READ
        # COMMITTED a statement that only waited for a lock keeps its older view).
        lock = (
            f"SELECT id FROM {self._jobs} WHERE id = ANY(%(ids)s) "
            "AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY id FOR UPDATE"
        )
        deleted = 0
        step = sql_dashboard.DELETE_BATCH
        with self._conn() as conn:
            for i in range(0, len(ids), step):  # each batch its own short transaction
                batch = {"ids": ids[i : i + step]}
                with conn.transaction():
                    if fetch(conn, lock, batch):
                        deleted += fetch(conn, sql, batch)[0][0]
        return deleted

    def add_history(self, counts: Mapping[tuple[float, str, str], int]) -> None:
        if not counts:
            return
        keys = sorted(counts)
        params = {
            "minute": [k[0] for k in keys],
            "queue": [k[1] for k in keys],
            "outcome": [k[2] for k in keys],
            "count": [counts[k] for k in keys],
        }
        with self._conn() as conn:
            fetch(conn, _ADD_HISTORY.format(history=self._table("bb_history")), params)

    def history(self, since: float, *, step: int = 60) -> list[HistoryPoint]:
        bucket = f"floor(minute / {check_step(step)}) * {step}"
        sql = (
            f"SELECT {bucket} AS bucket, queue, outcome, sum(count)::bigint "
            f"FROM {self._table('bb_history')} WHERE minute >= %s "
            "GROUP BY bucket, queue, outcome ORDER BY bucket, queue, outcome"
        )
        with self._conn() as conn:
            return [HistoryPoint(*row) for row in fetch(conn, sql, (since,))]

    def prune_history(self, before: float) -> int:
        sql = (
            f"WITH gone AS (DELETE FROM {self._table('bb_history')} WHERE minute < %s "
            "RETURNING 1) SELECT count(*) FROM gone"
        )
        with self._conn() as conn:
            return int(fetch(conn, sql, (before,))[0][0])

    def record_audit(self, entry: AuditEntry) -> None:
        sql = (
            f"INSERT INTO {self._table('bb_audit')} ({_AUDIT_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
        )
        values = (entry.at, entry.actor, entry.action, entry.target, entry.detail, entry.source)
        with self._conn() as conn:
            fetch(conn, sql, values)

    def audit_log(self, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        sql = (
            f"SELECT {_AUDIT_COLUMNS}, seq FROM {self._table('bb_audit')} "
            "WHERE seq < %s ORDER BY seq DESC LIMIT %s"
        )
        top = 2**63 - 1 if before is None else before
        with self._conn() as conn:
            return [AuditEntry(*row) for row in fetch(conn, sql, (top, limit))]
