"""Job logs in the SQLite store: the bb_logs table (sql/sqlite.sql), whose rows a trigger
deletes with their job."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..logs import LogLine

_NEXT = (
    "SELECT EXISTS (SELECT 1 FROM bb_jobs WHERE id = ?), "
    "(SELECT max(seq) FROM bb_logs WHERE job_id = ?)"
)
_INSERT = (
    "INSERT INTO bb_logs (job_id, seq, attempt, at, stream, level, message) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SELECT = (
    "SELECT seq, attempt, at, stream, level, message FROM bb_logs WHERE job_id = ? AND seq > ?"
)


class SQLiteLogs:
    """`append_logs` and `logs` of SQLiteStore."""

    if TYPE_CHECKING:

        def _conn(self) -> sqlite3.Connection: ...

        def _write(
            self, wake: bool = False, durable: bool = False
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def append_logs(self, lines: Mapping[str, Sequence[LogLine]]) -> None:
        """See `Store.append_logs`: one write transaction for every job's lines; writers
        queue on the file's lock, so reading the last number and adding after it is safe."""
        if not any(lines.values()):
            return
        with self._write() as conn:
            for job_id, added in lines.items():
                exists, last = conn.execute(_NEXT, (job_id, job_id)).fetchone()
                if not exists or not added:
                    continue
                first = (last or 0) + 1
                conn.executemany(
                    _INSERT,
                    [
                        (job_id, first + i, x.attempt, x.at, x.stream, x.level, x.message)
                        for i, x in enumerate(added)
                    ],
                )

    def logs(self, job_id: str, *, attempt: int | None = None, after: int = 0) -> list[LogLine]:
        """See `Store.logs`."""
        sql, params = _SELECT, [job_id, after]
        if attempt is not None:
            sql += " AND attempt = ?"
            params.append(attempt)
        found = self._conn().execute(sql + " ORDER BY seq", params).fetchall()
        return [
            LogLine(at, n, stream, level, message, seq)
            for seq, n, at, stream, level, message in found
        ]
