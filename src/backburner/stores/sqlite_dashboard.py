"""The SQLite store's dashboard methods (a mixin): finding, counting and deleting jobs
(sql_dashboard's statements), and the bb_history and bb_audit tables (sql/sqlite.sql)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..job import JobRecord
from . import sql_dashboard
from .base import AuditEntry, HistoryPoint, JobFilter, JobPage
from .dashboard import after_seq, check_step, exact_match
from .rows import JOB_SELECT_LIGHT, job_records

_FIND = "instr"
_ADD_HISTORY = (
    "INSERT INTO bb_history (minute, queue, outcome, count) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (minute, queue, outcome) DO UPDATE SET count = count + excluded.count"
)
_AUDIT_COLUMNS = "at, actor, action, target, detail, source"
_RECORD_AUDIT = f"INSERT INTO bb_audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
_AUDIT_LOG = f"SELECT {_AUDIT_COLUMNS}, seq FROM bb_audit WHERE seq < ? ORDER BY seq DESC LIMIT ?"


def _mark(name: str) -> str:
    return f":{name}"


class SQLiteDashboard:
    """`find_jobs`, `count_jobs`, `delete_jobs`, history and audit of SQLiteStore."""

    if TYPE_CHECKING:

        def get(self, job_id: str, *, light: bool = False) -> JobRecord | None: ...

        scan_limit: int

        def _conn(self) -> sqlite3.Connection: ...

        def _write(
            self, wake: bool = False, durable: bool = False
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def _light_get(self, job_id: str) -> JobRecord | None:
        return self.get(job_id, light=True)

    def _query(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return self._conn().execute(sql.format(jobs="bb_jobs"), params).fetchall()

    def find_jobs(self, filter: JobFilter, *, after: str | None = None, limit: int = 50) -> JobPage:
        below = after_seq(after)
        now = time.time()
        if below is None and (exact := exact_match(self._light_get, filter, now)) is not None:
            return JobPage([exact], None)
        rows, cursor, scanned = sql_dashboard.find_page(
            self._query,
            filter,
            below,
            now=now,
            mark=_mark,
            find=_FIND,
            columns=JOB_SELECT_LIGHT,
            scan=self.scan_limit,
            limit=max(1, limit),
            hint=sql_dashboard.sqlite_hint(filter),
        )
        return JobPage(job_records(rows, now, json.loads), cursor, scanned)

    def count_jobs(self, filter: JobFilter, cap: int) -> int:
        return sql_dashboard.count_matching(
            self._query,
            filter,
            now=time.time(),
            mark=_mark,
            find=_FIND,
            scan=self.scan_limit,
            cap=cap,
            hint=sql_dashboard.sqlite_hint(filter),
        )

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
