"""The SQLite store's dashboard methods (a mixin): finding, counting and deleting jobs
(sql_dashboard's statements), and the bb_history and bb_audit tables (sql/sqlite.sql)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..job import JobRecord
from . import sql_dashboard
from .base import AuditEntry, HistoryPoint, JobFilter
from .dashboard import check_step

_ADD_HISTORY = (
    "INSERT INTO bb_history (minute, queue, outcome, count) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (minute, queue, outcome) DO UPDATE SET count = count + excluded.count"
)
_AUDIT_COLUMNS = "at, actor, action, target, detail, source"
_RECORD_AUDIT = f"INSERT INTO bb_audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
_AUDIT_LOG = f"SELECT {_AUDIT_COLUMNS}, seq FROM bb_audit WHERE seq < ? ORDER BY seq DESC LIMIT ?"


class SQLiteDashboard(sql_dashboard.SQLReads):
    """`find_jobs`, `count_jobs`, `delete_jobs`, history and audit of SQLiteStore."""

    _find = "instr"

    def _mark(self, name: str) -> str:
        return f":{name}"

    def _decode(self, text: str) -> Any:
        return json.loads(text)

    if TYPE_CHECKING:

        def get(self, job_id: str, *, light: bool = False) -> JobRecord | None: ...

        scan_limit: int

        def _conn(self) -> sqlite3.Connection: ...

        def _write(
            self, wake: bool = False, durable: bool = False
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def _hint(self, filter: JobFilter) -> str:
        return sql_dashboard.sqlite_hint(filter)

    def _query(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return self._conn().execute(sql.format(jobs="bb_jobs"), params).fetchall()

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(job_ids))
        deleted = 0
        step = sql_dashboard.DELETE_BATCH
        for i in range(0, len(ids), step):  # each batch its own short write
            batch = ids[i : i + step]
            sql = (
                f"DELETE FROM bb_jobs AS f WHERE f.id IN ({', '.join('?' * len(batch))}) AND "
                + sql_dashboard.DELETABLE.format(jobs="bb_jobs", deps="bb_deps")
            )  # logs and dependency edges go with them (triggers)
            with self._write() as conn:
                deleted += conn.execute(sql, batch).rowcount
        return deleted

    def add_history(self, counts: Mapping[tuple[float, str, str], int]) -> None:
        if not counts:
            return
        with self._write() as conn:
            conn.executemany(_ADD_HISTORY, [(*key, n) for key, n in counts.items()])

    def history(self, since: float, *, step: int = 60) -> list[HistoryPoint]:
        step = check_step(step)
        sql = (
            "SELECT minute, queue, outcome, count FROM bb_history WHERE minute >= ? "
            "ORDER BY minute, queue, outcome"
            if step == 60  # minutes are stored whole: a bucket of one is a row
            # minutes are positive: the cast rounds down
            else f"SELECT CAST(minute / {step} AS INTEGER) * {step} AS bucket, queue, outcome, "
            "sum(count) FROM bb_history WHERE minute >= ? GROUP BY bucket, queue, outcome "
            "ORDER BY bucket, queue, outcome"
        )
        found = self._conn().execute(sql, (since,))
        return [HistoryPoint(*row) for row in found.fetchall()]

    def prune_history(self, before: float) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM bb_history WHERE minute < ?", (before,)).rowcount

    def record_audit(self, entry: AuditEntry) -> None:
        values = (entry.at, entry.actor, entry.action, entry.target, entry.detail, entry.source)
        with self._write(durable=True) as conn:
            conn.execute(_RECORD_AUDIT, values)

    def audit_log(self, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        top = 2**63 - 1 if before is None else before
        found = self._conn().execute(_AUDIT_LOG, (top, limit)).fetchall()
        return [AuditEntry(*row) for row in found]
