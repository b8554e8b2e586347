"""The PostgreSQL store's flow control (a mixin): the claim of rate-limited jobs, paused
queues, and what `explain` asks about limits. Concurrency limits are applied by the claim
statements themselves (claim, claim_limited and the bb_slots rows in
sql/postgres_queries.sql)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from psycopg.rows import tuple_row

from . import rows
from .postgres_conn import atomic, round_trip

if TYPE_CHECKING:
    from .postgres_conn import Connection


def limited(row: Mapping[str, Any]) -> bool:
    """Whether a claimed row (keyed by column name) has a limit."""
    return row["concurrency"] is not None or row["rate_limit"] is not None


def to_claim(plain: bool, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a claim returned unclaimed that claim_limited is to claim: all of them
    after `claim` (it leaves every job with a limit), the rate-limited ones after
    `claim_slots` (the others were refused a slot)."""
    return [r for r in found if r["status"] != "running" and (plain or r["rate_limit"] is not None)]


class PostgresFlowControl:
    """PostgresStore's claim of rate-limited jobs, pause, resume and flow-control
    answers."""

    if TYPE_CHECKING:
        _sql: dict[str, str]
        channel: str

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

    def _rows(self, name: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute(self._sql[name], params)
            found = cur.fetchall() if cur.description is not None else []
        yield from (tuple(row) for row in found)

    def _claim_limited(
        self, conn: Connection, waiting: list[dict[str, Any]], worker_id: str, lease_s: float
    ) -> list[dict[str, Any]]:
        """Claim jobs with limits a claim found, on `conn` in one transaction under their
        rate keys' advisory locks, each only while its keys have room (see claim_limited);
        one more round trip."""
        keys = {f"r:{r['rate_key']}" for r in waiting if r["rate_limit"] is not None}
        now = time.time()
        params = {
            "keys": sorted(keys),
            "seqs": [r["seq"] for r in waiting],
            "worker": worker_id,
            "until": now + lease_s,
            "now": now,
        }
        locked = conn.cursor(row_factory=tuple_row)
        claimed = conn.cursor(row_factory=tuple_row)
        with locked, claimed:
            with round_trip(conn), atomic(conn):
                locked.execute(self._sql["lock_keys"], params)
                claimed.execute(self._sql["claim_limited"], params)
            return rows.named_rows(claimed.fetchall())

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
