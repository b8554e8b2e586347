"""`sqlite:///path`: the embedded default store, one file, many processes.

WAL mode, every write in `BEGIN IMMEDIATE` (so concurrent writers queue on the busy
timeout instead of failing on a stale snapshot), claims by one `UPDATE ... RETURNING`.

Durability: `?synchronous=full` (the default) syncs the WAL on every commit that adds or
revives work (enqueue, cancel, retry), so a job whose `delay()` returned survives power
loss. `?synchronous=normal` skips that sync: still safe when processes crash, but the
last commits may be lost if the machine loses power; enqueue is several times faster.
A worker's own bookkeeping (claim, heartbeat, complete, fail) always commits with
`synchronous=NORMAL`: losing it to a power cut can only make a job run again, which the
at-least-once contract allows, and it halves the cost of every job. The next synced
commit (or checkpoint) makes it durable too, as the WAL is synced as a whole.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import defaults
from ..errors import StoreUnavailable
from ..job import FINISHED, JobRecord, JobStatus
from ..policy import Ending
from . import rows, sql_stats, sqlite_conn, sqlite_deps, sqlite_explain, sqlite_limits, sqlite_tx
from .base import Done, HeartbeatReply, Store, StoreStats, WorkerInfo, check_statuses
from .forks import on_fork_in_child
from .sqlite_conn import SCHEMA_VERSION
from .sqlite_dashboard import SQLiteDashboard
from .sqlite_logs import SQLiteLogs
from .sqlite_ticks import SQLiteTicks
from .wakeup import Wakeup

PURGE_BATCH = 2000
# After each purge chunk the write lock is left free twice as long as the chunk held it:
# workers polling it in SQLite's busy handler would otherwise rarely find it free. With
# 300,000 jobs purged under a worker's drain (bench/scale.py), a pause of 0 left the
# worker 1,785 jobs/s and pauses of 0.7 s; 2, with 2,000 rows a chunk, 5,351 jobs/s and
# 0.24 s, the purge taking 59 s instead of 26.
PURGE_YIELD = 2.0
_SYNC_MODES = ("full", "normal")
_HELD = "id = ? AND token = ? AND status = 'running'"
_RECORD_WORKER = (
    f"INSERT OR REPLACE INTO bb_workers ({rows.WORKER_SELECT}) "
    f"VALUES ({', '.join(':' + name for name in rows.WORKER_COLUMNS)})"
)
# How an attempt ends (see policy.Ending). Every SET expression reads the row as it was,
# so those that depend on the new status repeat how it is chosen.
_NEW_STATUS = "CASE WHEN cancel_requested THEN :if_cancelled ELSE :status END"
_END = (
    f"UPDATE bb_jobs SET status = {_NEW_STATUS}, lease_until = NULL, "
    "attempts = attempts - :given_back, error = COALESCE(:error, error), "
    # an attempt given back leaves no trace (see policy.Ending)
    "started_at = CASE WHEN :given_back THEN NULL ELSE started_at END, "
    "worker_id = CASE WHEN :given_back THEN NULL ELSE worker_id END, "
    "progress = CASE WHEN :given_back THEN NULL ELSE progress END, "
    "failures = CASE WHEN :failure IS NULL THEN failures ELSE "
    "  json_insert(failures, '$[#]', json_set(json(:failure), '$.attempt', attempts)) END, "
    f"run_at = CASE WHEN {_NEW_STATUS} = 'queued' THEN COALESCE(:run_at, run_at) "
    "  ELSE run_at END, "
    f"finished_at = CASE WHEN {_NEW_STATUS} = 'queued' THEN finished_at ELSE :at END "
    "WHERE id = :id AND token = :token AND status = 'running' "
    "AND (:lapsed_before IS NULL OR lease_until < :lapsed_before) RETURNING status"
)

# The due jobs of one queue in claim order (priority DESC, run_at, seq), read from the
# claim index (queue, priority DESC, run_at, seq) only as far as needed: a claim merges
# one such arm per queue. Parameters: queue, now, now (ELIGIBLE's rate window), limit.
_CLAIM_ARM = (
    "SELECT * FROM (SELECT seq, priority, run_at FROM bb_jobs j WHERE status = 'queued' "
    f"AND queue = ? AND run_at <= ? {sqlite_limits.ELIGIBLE} "
    "ORDER BY priority DESC, run_at, seq LIMIT ?)"
)
# Queues a claim merges walks of, at most: SQLite takes up to 500 terms in a compound
# SELECT. A claim on more (hundreds of queues with jobs queued at once) sorts instead.
MERGED_QUEUES = 100
# Every queue with a queued job: a loose scan of the claim index, one seek per queue.
_QUEUED_IN = (
    "WITH RECURSIVE q(name) AS ("
    "SELECT (SELECT min(queue) FROM bb_jobs WHERE status = 'queued') UNION ALL "
    "SELECT (SELECT min(queue) FROM bb_jobs WHERE status = 'queued' AND queue > q.name) "
    "FROM q WHERE q.name IS NOT NULL) SELECT name FROM q WHERE name IS NOT NULL"
)


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """sqlite:///relative.db or sqlite:////absolute.db -> (path, options)."""
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if parts.netloc or not path or path == ":memory:":
        raise ValueError(
            f"bad SQLite URL {url!r}: use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (for a throwaway store use memory://)"
        )
    options = dict(parse_qsl(parts.query))
    unknown = set(options) - {"synchronous", "busy_timeout"}
    if unknown:
        raise ValueError(
            f"unknown SQLite URL option(s) {sorted(unknown)} in {url!r}: "
            "supported are synchronous=full|normal and busy_timeout=SECONDS"
        )
    if options.get("synchronous", "full").lower() not in _SYNC_MODES:
        raise ValueError(f"synchronous must be full or normal in {url!r}")
    return path, options


def check_url(url: str) -> None:
    """What `stores.check_url` checks of a SQLite URL: its form and options, and that the
    file's folder exists and is writable. Opens nothing."""
    path, _ = parse_url(url)
    _check_writable(path)


def _check_writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StoreUnavailable(
            f"cannot use SQLite store {path!r}: folder {folder!r} does not exist; create it "
            "or point the URL elsewhere"
        )
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise StoreUnavailable(
            f"cannot use SQLite store {path!r}: {target!r} is not writable by this user "
            f"(uid {os.getuid()}); fix its permissions or point the URL elsewhere"
        )


class SQLiteStore(SQLiteTicks, SQLiteLogs, sqlite_limits.SQLiteFlowControl, SQLiteDashboard, Store):
    """Jobs in one SQLite file shared by every process on the machine."""

    def __init__(self, url: str, *, result_ttl: float = defaults.RESULT_TTL) -> None:
        super().__init__(url, result_ttl=result_ttl)
        self.path, options = parse_url(url)
        self.synchronous = options.get("synchronous", "full").upper()
        self.busy_timeout = float(options.get("busy_timeout", 30))
        self._wakeup = Wakeup(self.path)
        _check_writable(self.path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._inherited: list[sqlite3.Connection] = []  # kept open after fork, never used
        self._schema_ready = False
        on_fork_in_child(self, SQLiteStore._after_fork)

    # -- connections -------------------------------------------------------------------
    def _after_fork(self) -> None:
        # The parent's connections: closing one here could release its locks or remove
        # its WAL, so the child keeps them referenced and unused. Their threads, and any
        # holder of the lock, did not come along. The child checks the schema itself.
        self._inherited += [c for _, c in self._connections]
        self._connections = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._schema_ready = False

    def _conn(self) -> sqlite3.Connection:
        held = getattr(self._local, "conn", None)
        if held is not None:
            return held  # type: ignore[no-any-return]
        conn = self._connect()
        self._local.conn = conn
        self._local.sync = self.synchronous
        with self._lock:
            # a thread-per-request server would otherwise leak one connection per thread
            ended = [c for t, c in self._connections if not t.is_alive()]
            self._connections = [e for e in self._connections if e[0].is_alive()]
            self._connections.append((threading.current_thread(), conn))
        for old in ended:
            old.close()
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite_conn.connect(self.path, self.busy_timeout, self.synchronous)
        if not self._schema_ready:
            sqlite_conn.ensure_schema(conn, self.path)
            self._schema_ready = True
        return conn

    def migrate(self) -> int:
        self._conn()  # opening a connection creates or checks the schema
        return SCHEMA_VERSION

    @contextmanager
    def _write(self, wake: bool = False, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction; `durable` ones commit with the URL's synchronous setting,
        others with NORMAL. With `wake`, idle workers are woken after it commits."""
        conn = self._conn()
        mode = self.synchronous if durable else "NORMAL"
        if self._local.sync != mode:
            conn.execute(f"PRAGMA synchronous={mode}")
            self._local.sync = mode
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(
                f"SQLite store {self.path!r} stayed locked for {self.busy_timeout}s: {exc}"
            ) from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if wake:
            self._wakeup.notify()

    # -- producing ---------------------------------------------------------------------
    def transaction(self, connection: object) -> AbstractContextManager[None]:
        """Within the block, `enqueue` writes on `connection` (a sqlite3 connection or a
        SQLAlchemy session/connection on this store's file), in its current transaction:
        the jobs exist only if it commits. Workers see them at their next check of the
        file (within a quarter second: a commit of yours cannot wake them)."""
        resolve = sqlite_tx.resolver(connection)
        sqlite_tx.check_same_file(resolve(), self.path)
        self._conn()  # the schema exists before your transaction writes to it
        return sqlite_tx.bind(id(self), resolve)

    def enqueue(self, records: Sequence[JobRecord]) -> list[str]:
        try:
            resolve = sqlite_tx.bound(id(self))
            if resolve is not None:
                ids, committed = sqlite_tx.write_on(resolve(), lambda c: self._insert(c, records))
                if committed:
                    self._wakeup.notify()
                return ids
            with self._write(wake=True, durable=True) as conn:
                return self._insert(conn, records)
        except sqlite3.IntegrityError as exc:
            if "bb_jobs.id" not in str(exc):  # NOT NULL (a NaN time), say: not a clash
                raise
            raise ValueError(f"job id already stored: {exc}; nothing was enqueued") from exc

    @staticmethod
    def _insert(conn: sqlite3.Connection, records: Sequence[JobRecord]) -> list[str]:
        return sqlite_deps.insert(conn, records)

    # -- consuming ---------------------------------------------------------------------
    def complete_and_claim(
        self,
        done: Sequence[Done],
        queues: Sequence[str] | None,
        worker_id: str,
        limit: int,
        lease_s: float,
    ) -> tuple[list[bool], list[JobRecord]]:
        """All in one transaction: one lock hand-off per batch on a busy worker."""
        if not done and limit <= 0:
            return [], []
        claimed: list[dict[str, Any]] = []
        now = 0.0
        with self._write() as conn:
            accepted = [self._complete(conn, *d) for d in done]
            succeeded = [d.job_id for d, ok in zip(done, accepted) if ok]
            released = sqlite_deps.release(conn, succeeded)
            if limit > 0:
                claimed, now = self._claim(conn, queues, worker_id, limit, lease_s)
        if released:
            self._wakeup.notify()
        # JSON columns are TEXT in SQLite (cancel_requested an integer: rows makes it a bool)
        return accepted, rows.records_of(claimed, now, json.loads)

    def _claim(
        self,
        conn: sqlite3.Connection,
        queues: Sequence[str] | None,
        worker_id: str,
        limit: int,
        lease_s: float,
    ) -> tuple[list[dict[str, Any]], float]:
        """Claim in `conn`'s transaction: (rows by column name, now), within every job's
        limits; decoded once the lock is released."""
        now = time.time()
        names = queues if queues is not None else self._queued_in(conn)
        if not names:
            return [], now
        if len(names) <= MERGED_QUEUES:
            # One ordered walk of the claim index per queue, merged (see _CLAIM_ARM): the
            # index starts with the queue, so a claim on every queue needs no second index
            arms = " UNION ALL ".join([_CLAIM_ARM] * len(names))
            pick = f"SELECT seq FROM ({arms} ORDER BY 2 DESC, 3, 1 LIMIT ?)"
        else:  # more arms than SQLite takes: every due job of those queues, sorted
            pick = (
                f"SELECT seq FROM bb_jobs j WHERE status = 'queued' AND queue IN "
                f"(SELECT value FROM json_each(?)) AND run_at <= ? {sqlite_limits.ELIGIBLE} "
                "ORDER BY priority DESC, run_at, seq LIMIT ?"
            )
        sql = (
            "UPDATE bb_jobs SET status = 'running', attempts = attempts + 1, token = token + 1, "
            f"worker_id = ?, lease_until = ?, started_at = ? WHERE seq IN ({pick}) "
            f"RETURNING {rows.JOB_SELECT}"
        )
        named: list[dict[str, Any]] = []
        while len(named) < limit:  # again only when jobs past a limit were handed back
            wanted = limit - len(named)
            if len(names) <= MERGED_QUEUES:
                picked: list[Any] = [v for q in names for v in (q, now, now, wanted)]
            else:
                picked = [json.dumps(list(names)), now, now]
            values = (worker_id, now + lease_s, now, *picked, wanted)
            batch = rows.named_rows(conn.execute(sql, values).fetchall())
            undone = sqlite_limits.settle_claim(conn, batch, now)
            named += [r for r in batch if r["status"] is not None] if undone else batch
            if not undone:
                break
        return named, now

    def claim_job(self, job_id: str, worker_id: str, lease_s: float) -> JobRecord | None:
        now = time.time()
        with self._write() as conn:
            found = conn.execute(
                "UPDATE bb_jobs SET status = 'running', attempts = attempts + 1, "
                "token = token + 1, worker_id = ?, lease_until = ?, started_at = ? "
                f"WHERE id = ? AND status = 'queued' AND run_at <= ? RETURNING {rows.JOB_SELECT}",
                (worker_id, now + lease_s, now, job_id, now),
            ).fetchall()
        return next(iter(rows.claimed_records(found, now, json.loads)), None)

    @staticmethod
    def _queued_in(conn: sqlite3.Connection) -> list[str]:
        """The queues holding queued jobs, by skipping from one to the next in the claim
        index (a few lookups per queue, however many jobs each holds)."""
        return [str(q) for (q,) in conn.execute(_QUEUED_IN)]

    @staticmethod
    def _queue_filter(queues: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
        if queues is None:
            return "", ()
        return f"AND queue IN ({', '.join('?' * len(queues))})", tuple(queues)

    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease_s: float
    ) -> HeartbeatReply:
        lost, cancel, forced = set(), set(), {}
        with self._write() as conn:
            until = time.time() + lease_s
            for job_id, token in leases.items():
                row = conn.execute(
                    f"UPDATE bb_jobs SET lease_until = ? WHERE {_HELD} "
                    "RETURNING cancel_requested, cancel_grace",
                    (until, job_id, token),
                ).fetchone()
                if row is None:
                    lost.add(job_id)
                    continue
                if row[0]:
                    cancel.add(job_id)
                if row[1] is not None:
                    forced[job_id] = row[1]
        return HeartbeatReply(frozenset(lost), frozenset(cancel), forced)

    def complete(self, job_id: str, token: int, result: str | None) -> bool:
        with self._write() as conn:
            accepted = self._complete(conn, job_id, token, result)
            released = accepted and sqlite_deps.release(conn, [job_id])
        if released:
            self._wakeup.notify()
        return accepted

    @staticmethod
    def _complete(conn: sqlite3.Connection, job_id: str, token: int, result: str | None) -> bool:
        cur = conn.execute(
            "UPDATE bb_jobs SET status = 'succeeded', result = ?, finished_at = ?, "
            f"lease_until = NULL WHERE {_HELD}",
            (result, time.time(), job_id, token),
        )
        return cur.rowcount == 1

    def end_attempts(self, endings: Sequence[Ending]) -> list[JobStatus | None]:
        """All in one write transaction; idle workers are woken if a job is pending again."""
        if not endings:
            return []
        with self._write() as conn:
            ended = [conn.execute(_END, rows.ending_params(e)).fetchone() for e in endings]
            lost = [(e.job_id, JobStatus(row[0]), e.at) for e, row in zip(endings, ended) if row]
            for job_id, status, at in lost:
                if status in (JobStatus.FAILED, JobStatus.CANCELLED):
                    sqlite_deps.doom(conn, [(job_id, status)], at)
        if any(row is not None and row[0] == JobStatus.QUEUED.value for row in ended):
            self._wakeup.notify()
        return [None if row is None else JobStatus(row[0]) for row in ended]

    def set_progress(self, job_id: str, token: int, progress: Mapping[str, Any]) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                f"UPDATE bb_jobs SET progress = ? WHERE {_HELD}",
                (json.dumps(dict(progress)), job_id, token),
            )
            return cur.rowcount == 1

    def lapsed(self, now: float, limit: int) -> list[JobRecord]:
        return self._select(
            "WHERE status = 'running' AND lease_until < ? ORDER BY lease_until LIMIT ?",
            (now, limit),
        )

    def wait_for_work(self, queues: Sequence[str] | None, timeout: float) -> None:
        self._wakeup.drain()  # wake-ups sent before this check are covered by it
        conn = self._conn()
        where, params = self._queue_filter(queues)
        deadline = time.monotonic() + timeout
        # data_version changes when another connection commits: the fallback check
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        now = time.time()
        ready, next_at = sqlite_limits.wait_plan(conn, where, params, now)
        if ready:
            return
        if next_at is not None:
            deadline = min(deadline, time.monotonic() + next_at - now)
        while (left := deadline - time.monotonic()) > 0:
            if self._wakeup.wait(left):
                return
            if conn.execute("PRAGMA data_version").fetchone()[0] != version:
                return

    def stop_waiting(self) -> None:
        self._wakeup.stop()

    # -- reading and operating ---------------------------------------------------------
    def _select(
        self, sql: str, params: Sequence[Any] = (), columns: str = rows.JOB_SELECT
    ) -> list[JobRecord]:
        now = time.time()
        found = self._conn().execute(f"SELECT {columns} FROM bb_jobs {sql}", params)
        return rows.job_records(found.fetchall(), now, json.loads)

    def get(self, job_id: str, *, light: bool = False) -> JobRecord | None:
        columns = rows.JOB_SELECT_LIGHT if light else rows.JOB_SELECT
        found = self._select("WHERE id = ?", (job_id,), columns)
        return found[0] if found else None

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        task: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JobRecord]:
        clauses, params = _status_clause(status, time.time())
        for column, value in (("queue", queue), ("task", task)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._select(f"{where} ORDER BY seq DESC LIMIT ? OFFSET ?", (*params, limit, offset))

    def counts(self) -> dict[str, dict[JobStatus, int]]:
        found = (
            self._conn()
            .execute(
                "SELECT queue, CASE WHEN status = 'queued' AND run_at > ? THEN 'scheduled' "
                "ELSE status END AS s, COUNT(*) FROM bb_jobs GROUP BY queue, s",
                (time.time(),),
            )
            .fetchall()
        )
        out: dict[str, dict[JobStatus, int]] = {}
        for queue, status, n in found:
            out.setdefault(queue, {})[JobStatus(status)] = n
        return out

    def stats(self, now: float, alive_since: float) -> StoreStats:
        params = {"now": now, "alive_since": alive_since}
        found = self._conn().execute(sql_stats.SQLITE, params).fetchall()
        return sql_stats.gather(found, now)

    def cancel(self, job_id: str, *, grace: float | None = None) -> bool:
        with self._write(durable=True) as conn:
            now = time.time()
            cur = conn.execute(
                "UPDATE bb_jobs SET status = 'cancelled', finished_at = ? "
                "WHERE id = ? AND status IN ('queued', 'waiting')",
                (now, job_id),
            )
            if cur.rowcount:
                sqlite_deps.doom(conn, [(job_id, JobStatus.CANCELLED)], now)
                return True
            conn.execute(
                "UPDATE bb_jobs SET cancel_requested = 1, cancel_grace = COALESCE(?, cancel_grace) "
                "WHERE id = ? AND status = 'running'",
                (grace, job_id),
            )
            return False

    def count_ahead(self, job_id: str, limit: int) -> int:
        return sqlite_explain.count_ahead(self._conn(), job_id, time.time(), limit)

    def retry(self, job_id: str) -> bool:
        with self._write(wake=True, durable=True) as conn:
            try:
                now = time.time()
                cur = conn.execute(
                    "UPDATE bb_jobs SET status = 'queued', attempts = 0, run_at = ?, "
                    "finished_at = NULL, cancel_requested = 0, cancel_grace = NULL, "
                    # the mark as JSON text, so the time keeps every digit of its float
                    "failures = CASE WHEN json_array_length(failures) > 0 "
                    "  THEN json_set(failures, '$[#-1].retried_at', json(?)) ELSE failures END "
                    "WHERE id = ? AND status IN ('failed', 'cancelled') AND waiting_for = 0",
                    (now, json.dumps(now), job_id),
                )
            except sqlite3.IntegrityError:
                return False  # another live job holds its unique_key
            if cur.rowcount == 1:
                sqlite_deps.revive(conn, job_id)
            return cur.rowcount == 1

    def purge(
        self, *, statuses: Collection[JobStatus] = FINISHED, older_than: float | None = None
    ) -> int:
        check_statuses(statuses)
        if not statuses:
            return 0
        cutoff = time.time() + 1 if older_than is None else older_than
        sql = purge_sql(statuses)
        deleted = 0
        while True:  # in batches, so workers are not locked out for long
            began = time.monotonic()
            with self._write() as conn:
                count = conn.execute(sql, (cutoff,)).rowcount
            deleted += count
            if count < PURGE_BATCH:
                return deleted
            time.sleep((time.monotonic() - began) * PURGE_YIELD)

    def dependent_ids(self, job_id: str) -> list[str]:
        return sqlite_deps.dependent_ids(self._conn(), job_id)

    # -- workers -----------------------------------------------------------------------
    def record_worker(self, info: WorkerInfo) -> None:
        with self._write() as conn:
            conn.execute(_RECORD_WORKER, rows.worker_values(info, json.dumps))

    def remove_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM bb_workers WHERE id = ?", (worker_id,))

    def list_workers(self, alive_since: float) -> list[WorkerInfo]:
        with self._write() as conn:
            conn.execute("DELETE FROM bb_workers WHERE heartbeat_at < ?", (alive_since,))
            cur = conn.cursor()
            cur.row_factory = sqlite3.Row  # read by column name
            cur.execute(f"SELECT {rows.WORKER_SELECT} FROM bb_workers ORDER BY started_at")
            found = cur.fetchall()
        return [rows.worker_info(row, json.loads) for row in found]

    def close(self) -> None:
        with self._lock:
            mine, self._connections = self._connections, []
        for _, conn in mine:
            conn.close()
        self._local = threading.local()
        self._wakeup.close()


# bb_jobs_finished's own WHERE, word for word: SQLite uses a partial index only for a
# query that has its condition as a term, and cannot tell what a parameter will be. With
# `status IN (?, ?, ?)` a purge read the whole table (1,100,000 rows: 0.2-0.9 s holding
# the write lock, each minute, in every worker's result expiry; bench/scale.py).
_FINISHED_TERM = "status IN ('succeeded', 'failed', 'cancelled')"


def purge_sql(statuses: Collection[JobStatus]) -> str:
    """One chunk of `purge`: delete up to PURGE_BATCH jobs of `statuses` (finished ones)
    that finished before the parameter, found in bb_jobs_finished."""
    listed = ", ".join(f"'{JobStatus(s).value}'" for s in sorted(statuses))  # enum values
    return (
        "DELETE FROM bb_jobs WHERE seq IN (SELECT seq FROM bb_jobs "
        f"WHERE {_FINISHED_TERM} AND status IN ({listed}) AND finished_at < ? AND NOT EXISTS ("
        # a dependent that has not finished may need its result
        "  SELECT 1 FROM bb_deps AS d JOIN bb_jobs AS j ON j.id = d.job_id "
        "  WHERE d.dep_id = bb_jobs.id AND j.status IN ('waiting', 'queued', 'running')) "
        f"LIMIT {PURGE_BATCH})"
    )


def _status_clause(status: JobStatus | None, now: float) -> tuple[list[str], list[Any]]:
    if status is None:
        return [], []
    if status is JobStatus.SCHEDULED:
        return ["status = 'queued' AND run_at > ?"], [now]
    if status is JobStatus.QUEUED:
        return ["status = 'queued' AND run_at <= ?"], [now]
    return ["status = ?"], [status.value]
