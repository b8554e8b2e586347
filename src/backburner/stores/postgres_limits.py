"""The PostgreSQL store's paused queues and what `explain` asks about limits (a mixin);
the limits themselves are applied by its claim (claim, lock_limits and settle_limits in
sql/postgres_queries.sql)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .postgres_conn import Connection


class PostgresFlowControl:
    """PostgresStore's pause, resume and flow-control answers."""

    if TYPE_CHECKING:
        _sql: dict[str, str]
        channel: str

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

    def _rows(self, name: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute(self._sql[name], params)
            found = cur.fetchall() if cur.description is not None else []
        yield from (tuple(row) for row in found)

    def pause(self, queue: str) -> None:
        list(self._rows("pause", {"queue": queue, "now": time.time()}))

    def resume(self, queue: str) -> None:
        list(self._rows("resume", {"queue": queue, "channel": self.channel}))

    def paused_queues(self) -> set[str]:
        return {queue for (queue,) in self._rows("paused_queues", {})}

    def concurrency_holders(self, key: str) -> list[str]:
        return [job_id for (job_id,) in self._rows("concurrency_holders", {"key": key})]

    def rate_window_until(self, key: str, limit: int) -> float | None:
        params = {"key": key, "now": time.time(), "offset": limit - 1}
        found = list(self._rows("rate_window_until", params))
        return float(found[0][0]) if found else None
