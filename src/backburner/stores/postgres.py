"""`postgresql://...`: jobs in PostgreSQL, shared by any number of machines.

URL: ``postgresql://user:password@host:5432/dbname?schema=jobs`` (``postgres://`` too).
Backburner reads these options and removes them before the URL reaches libpq; every
other parameter (sslmode, connect_timeout, ...) is libpq's:

- ``schema=NAME``: the tables live in this schema (default ``public``), created if missing.
- ``migrate=false``: do not create or upgrade the schema on first use; run
  ``backburner migrate APP`` (``PostgresStore.migrate()``) when deploying instead.
- ``pool_size=N`` (10): connections per process. ``pool_timeout=S`` (10): how long an
  operation waits for a free one. ``poll=S`` (1): how often a waiting worker looks at the
  table even without a notification.
- ``pgbouncer=true``: the URL names a PgBouncer in transaction pooling mode: statements
  are never prepared and no session setting is made. Workers then poll (every ``poll``
  seconds) unless ``listen_url=`` names a direct connection to LISTEN on.

Claims take due jobs with ``FOR UPDATE SKIP LOCKED`` (READ COMMITTED, one statement per
batch), so claimers never wait on each other and never share a job. Every change that
makes a job pending sends ``pg_notify`` in its own transaction, delivered at commit;
workers LISTEN for it and poll as a fallback. Connections are pooled per process and
re-created after ``fork()``. Connection failures raise StoreUnavailable.

Transactional enqueue
---------------------
Inside ``bb.transaction(obj)``, ``delay()`` inserts the job on *your* connection, inside
*your* transaction: rollback and the job never existed; commit and it exists, and only
then do workers see it (and get woken). ``obj`` is a psycopg 3 connection::

    with psycopg.connect(DSN) as conn:        # commits at the end of the block
        with bb.transaction(conn):
            conn.execute("INSERT INTO orders (id) VALUES (%s)", (order_id,))
            send_receipt.delay(order_id)

or a SQLAlchemy Session or Connection, e.g. Flask-SQLAlchemy's ``db.session``, whose
engine URL uses psycopg 3 (``postgresql+psycopg://``)::

    with bb.transaction(db.session):
        db.session.add(order)
        send_receipt.delay(order.id)
    db.session.commit()

The connection must reach the database the store URL names. The binding holds in this
thread (or asyncio task) only; there, ``enqueue()``, ``get()`` and ``list_jobs()`` of this
store use your connection (so they see your uncommitted jobs), everything else the pool.
If ``delay()`` raises inside the block, roll the transaction back.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from .. import defaults
from ..errors import SchemaError, StoreUnavailable
from ..job import JobRecord, JobStatus
from ..policy import Ending
from . import postgres_deps, postgres_insert, postgres_limits, postgres_schema, rows, sql_stats
from .base import Done, Store, StoreStats
from .forks import on_fork_in_child
from .postgres_conn import (
    Connection,
    ConnectionSource,
    atomic,
    decoded,
    fetch,
    parse_url,
    round_trip,
    rowcount,
)
from .postgres_dashboard import PostgresDashboard
from .postgres_listen import Listener, Polling
from .postgres_logs import PostgresLogs
from .postgres_purge import PostgresPurge
from .postgres_ticks import PostgresTicks
from .postgres_tx import bind, bound, resolver
from .postgres_workers import PostgresWorkers

_SETTLE_PASSES = 3  # claims again when jobs were over a limit, at most this often


def channel_name(schema: str) -> str:
    """The NOTIFY channel of a schema: an identifier, so at most 63 bytes."""
    name = f"backburner_{schema}"
    if len(name) > 63:
        name = "backburner_" + hashlib.sha256(schema.encode()).hexdigest()[:40]
    return name


def check_url(url: str) -> None:
    """What `stores.check_url` checks of a PostgreSQL URL: backburner's options and the
    names of libpq's. Connects to nothing."""
    parse_url(url)


class PostgresStore(
    PostgresTicks,
    PostgresLogs,
    PostgresPurge,
    PostgresWorkers,
    postgres_limits.PostgresFlowControl,
    PostgresDashboard,
    Store,
):
    """Jobs in PostgreSQL: see the module docstring for the URL and transactional enqueue."""

    def __init__(
        self, url: str, *, result_ttl: float = defaults.RESULT_TTL, poll: float | None = None
    ) -> None:
        super().__init__(url, result_ttl=result_ttl)
        self.options = parse_url(url)
        self.schema = self.options.schema
        self.poll = self.options.poll if poll is None else poll
        self.channel = channel_name(self.schema)
        self._jobs = f'"{self.schema}".bb_jobs'  # parse_url allows [A-Za-z0-9_] only
        self._sql = postgres_schema.queries(self.schema, rows.JOB_SELECT)
        self._source = ConnectionSource(self.options)
        self._schema_ready = False
        self._lock = threading.Lock()
        self._listener: Listener | Polling | None = None
        self._stopping = False  # stop_waiting() was called
        self._limits_seen = False  # whether the last claim met jobs with limits
        self._inherited: list[Listener | Polling] = []  # the parent's, whose thread is not here
        on_fork_in_child(self, PostgresStore._after_fork)

    def _after_fork(self) -> None:
        # The parent's listener: its connection and thread are the parent's, never used or
        # closed here. The pool is ConnectionSource's to drop.
        if self._listener is not None:
            self._inherited.append(self._listener)
            self._listener = None
        self._stopping = False
        self._lock = threading.Lock()  # may have been held by a thread of the parent

    def __repr__(self) -> str:
        return f"<PostgresStore {self.options.safe_url}>"

    # -- schema ------------------------------------------------------------------------
    def migrate(self) -> int:
        """Create or upgrade this store's schema to the latest version; returns it.

        Safe to run from several processes at once (an advisory lock serialises them).
        Raises SchemaError if the schema is newer than this backburner.
        """
        with self._source.connection() as conn:
            version = postgres_schema.migrate(conn, self.schema)
        self._schema_ready = True
        return version

    def _ensure_schema(self, conn: Connection) -> None:
        with self._lock:
            if self._schema_ready:
                return
            version = postgres_schema.current_version(conn, self.schema)
            if version != postgres_schema.latest_version():
                postgres_schema.check_version(version, self.schema)
                if not self.options.migrate:
                    raise SchemaError(
                        f"PostgreSQL schema {self.schema!r} at {self.options.safe_url} has "
                        f"backburner schema v{version}, this backburner needs "
                        f"v{postgres_schema.latest_version()}: run `backburner migrate APP` "
                        "(or remove migrate=false from the URL)"
                    )
                postgres_schema.migrate(conn, self.schema)
            self._schema_ready = True

    @contextmanager
    def _conn(self, timeout: float | None = None) -> Iterator[Connection]:
        with self._source.connection(timeout) as conn:
            if not self._schema_ready:
                self._ensure_schema(conn)
            yield conn

    # -- producing ---------------------------------------------------------------------
    def transaction(self, connection: object) -> AbstractContextManager[None]:
        """Within the block, enqueue on `connection`'s current transaction (see the
        module docstring). Raises TypeError for anything but a psycopg 3 connection or
        a SQLAlchemy Session / Connection using postgresql+psycopg."""
        resolve = resolver(connection)
        resolve()  # an unsupported driver fails here, not at the first delay()
        if not self._schema_ready:
            with self._conn():
                pass
        return bind(id(self), resolve)

    def enqueue(self, records: Sequence[JobRecord]) -> list[str]:
        if not records:
            return []
        resolve = bound(id(self))
        if resolve is not None:
            return self._enqueue_on_caller(resolve(), records)
        with self._conn() as conn:
            if len(records) <= postgres_insert.CHUNK and not any(
                r.unique_key or r.depends_on for r in records
            ):
                return postgres_insert.insert(
                    conn, self._sql, self.channel, records, None
                )  # one statement: atomic alone
            with conn.transaction():  # several statements: all of them or none
                return postgres_insert.insert(conn, self._sql, self.channel, records, None)

    def _insert(
        self, conn: Connection, records: Sequence[JobRecord], prepare: bool | None
    ) -> list[str]:
        """Store `records` on `conn`, in the caller's transaction (enqueue_tick's)."""
        return postgres_insert.insert(conn, self._sql, self.channel, records, prepare)

    def _enqueue_on_caller(self, conn: Connection, records: Sequence[JobRecord]) -> list[str]:
        try:
            with self._source.errors():
                idle = conn.info.transaction_status == TransactionStatus.IDLE
                if conn.autocommit and idle:
                    with conn.transaction():
                        return postgres_insert.insert(conn, self._sql, self.channel, records, False)
                # prepare=False: leave no prepared statements on the caller's connection
                return postgres_insert.insert(conn, self._sql, self.channel, records, False)
        except psycopg.errors.UndefinedTable as exc:
            raise SchemaError(
                f"the connection given to transaction() has no backburner tables in schema "
                f"{self.schema!r}: connect it to the database of {self.options.safe_url}"
            ) from exc

    # -- consuming ---------------------------------------------------------------------
    def complete_and_claim(
        self,
        done: Sequence[Done],
        queues: Sequence[str] | None,
        worker_id: str,
        limit: int,
        lease_s: float,
    ) -> tuple[list[bool], list[JobRecord]]:
        """One round trip (psycopg's pipeline) and one transaction: complete, then claim.
        Jobs with limits among those the claim found are then claimed in a transaction of
        their own, under their keys' locks (see claim_limited); when some were over a
        limit, claims again for the rest, jobs without limits too."""
        if queues is not None and not queues:
            limit = 0
        if not done and limit <= 0:
            return [], []
        accepted, found, refused = self._complete_and_claim(done, queues, worker_id, limit, lease_s)
        for _ in range(_SETTLE_PASSES):
            if not refused or len(found) >= limit:
                break
            _, more, refused = self._complete_and_claim(
                (), queues, worker_id, limit - len(found), lease_s
            )
            found += more
        return accepted, rows.records_of(found, time.time(), decoded)

    def _complete_and_claim(
        self,
        done: Sequence[Done],
        queues: Sequence[str] | None,
        worker_id: str,
        limit: int,
        lease_s: float,
    ) -> tuple[list[bool], list[dict[str, Any]], bool]:
        """(accepted, rows claimed keyed by column name, whether the claim found jobs with
        limits it could not claim: their keys were full, or a rate-limited one was)."""
        now = time.time()
        # complete_many locks its rows in the order of these arrays: id order, so two
        # completions never deadlock; heartbeats never wait for a row lock
        ordered = sorted(done, key=lambda d: d.job_id)
        finished = {
            "now": now,
            "ids": [d.job_id for d in ordered],
            "tokens": [d.token for d in ordered],
            "results": [d.result for d in ordered],
        }
        wanted = {
            "worker": worker_id,
            "until": now + lease_s,
            "now": now,
            "queues": list(queues or ()),
            "limit": limit,
        }
        plain = not self._limits_seen  # claim_slots only while jobs with limits come by
        claim_sql = self._sql[
            ("claim" if plain else "claim_slots") + ("" if queues is None else "_queues")
        ]
        with self._conn() as conn:
            completed = conn.cursor(row_factory=tuple_row)
            claimed = conn.cursor(row_factory=tuple_row)
            with completed, claimed:
                # One transaction, sent whole (BEGIN to COMMIT in one write): a dependent
                # is queued with its dependency's completion, or neither; one WAL flush;
                # and the server commits as soon as it has run the statements, so the rows
                # the claim's SKIP LOCKED locked and then passed over (see claim in
                # postgres_queries.sql) are let go at once, not held until this process,
                # maybe descheduled, reads the results.
                with round_trip(conn), atomic(conn):
                    if done:
                        completed.execute(self._sql["complete_many"], finished)
                        finished["channel"] = self.channel
                        claimed.execute(self._sql["release"], finished)
                    if limit > 0:
                        claimed.execute(claim_sql, wanted)
                ids = {job_id for (job_id,) in completed.fetchall()} if done else set()
                found = rows.named_rows(claimed.fetchall()) if limit > 0 else []
            self._limits_seen = any(postgres_limits.limited(r) for r in found)
            running = [r for r in found if r["status"] == "running"]
            if len(running) == len(found):
                return [d.job_id in ids for d in done], running, False
            waiting = postgres_limits.to_claim(plain, found)
            started = self._claim_limited(conn, waiting, worker_id, lease_s) if waiting else []
        return [d.job_id in ids for d in done], running + started, True

    def claim_job(self, job_id: str, worker_id: str, lease_s: float) -> JobRecord | None:
        now = time.time()
        params = {"worker": worker_id, "until": now + lease_s, "now": now, "id": job_id}
        with self._conn() as conn:
            found = fetch(conn, self._sql["claim_job"], params)
        return next(iter(rows.claimed_records(found, now, decoded)), None)

    def complete(self, job_id: str, token: int, result: str | None) -> bool:
        return self.complete_and_claim([Done(job_id, token, result)], None, "", 0, 0)[0][0]

    def end_attempts(self, endings: Sequence[Ending]) -> list[JobStatus | None]:
        """One statement for the whole batch: see end_attempts in postgres_queries.sql."""
        if not endings:
            return []
        each = [rows.ending_params(e) for e in endings]
        params: dict[str, Any] = {name: [p[name] for p in each] for name in each[0]}
        params["channel"] = self.channel
        with self._conn() as conn, conn.transaction():
            ended = dict(fetch(conn, self._sql["end_attempts"], params))
            lost = [
                (e.job_id, JobStatus(ended[n]))
                for n, e in enumerate(endings, 1)
                if ended.get(n) in ("failed", "cancelled")
            ]
            postgres_deps.doom(conn, self._sql, lost, time.time())
        return [JobStatus(ended[n]) if n in ended else None for n in range(1, len(endings) + 1)]

    def set_progress(self, job_id: str, token: int, progress: Mapping[str, Any]) -> bool:
        params = {"progress": Jsonb(dict(progress)), "id": job_id, "token": token}
        with self._conn() as conn:
            return rowcount(conn, self._sql["set_progress"], params) == 1

    def lapsed(self, now: float, limit: int) -> list[JobRecord]:
        with self._conn() as conn:
            found = fetch(conn, self._sql["lapsed"], {"now": now, "limit": limit})
        return rows.job_records(found, time.time(), decoded)

    def wait_for_work(self, queues: Sequence[str] | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        listener = self._current_listener()
        listener.ready(min(timeout, 1.0))
        while not self._stopping:  # set before its listener's wait ends: seen here after
            seen = listener.mark()  # before the look at the table: no commit slips between
            due_in = self._due_in(queues, deadline - time.monotonic())
            left = deadline - time.monotonic()
            if (due_in is not None and due_in <= 0) or left <= 0:
                return
            listener.wait(seen, queues, min(left, self.poll, due_in or left))

    def _due_in(self, queues: Sequence[str] | None, budget: float) -> float | None:
        """Seconds until a job of `queues` can be claimed (<= 0: now; see next_due);
        None when none is pending, or the store cannot be reached (the wait then polls)."""
        sql = self._sql["next_due" if queues is None else "next_due_queues"]
        now = time.time()
        try:
            with self._conn(timeout=max(0.05, min(budget, self.options.pool_timeout))) as conn:
                [(ready, *edges)] = fetch(conn, sql, {"queues": list(queues or ()), "now": now})
        except StoreUnavailable:
            return None
        if ready:
            return 0.0
        times = [float(t) for t in edges if t is not None]
        return min(times) - now if times else None

    def _current_listener(self) -> Listener | Polling:
        with self._lock:
            if self._listener is None:
                source = self._source
                if self.options.pgbouncer and not self.options.listen_url:
                    self._listener = Polling()  # LISTEN needs a session PgBouncer lacks
                else:
                    self._listener = Listener(lambda: source.connect(listen=True), self.channel)
                if self._stopping:
                    self._listener.stop_waiting()
            return self._listener

    def stop_waiting(self) -> None:
        with self._lock:
            self._stopping = True
            listener = self._listener
        if listener is not None:
            listener.stop_waiting()

    # -- reading and operating ---------------------------------------------------------
    def _select(
        self, where: str, params: Any = (), columns: str = rows.JOB_SELECT
    ) -> list[JobRecord]:
        sql = f"SELECT {columns} FROM {self._jobs} {where}"
        resolve = bound(id(self))
        if resolve is not None:  # inside transaction(): see the caller's uncommitted jobs
            with self._source.errors():
                found = fetch(resolve(), sql, params, prepare=False)
        else:
            with self._conn() as conn:
                found = fetch(conn, sql, params)
        return rows.job_records(found, time.time(), decoded)

    def get(self, job_id: str, *, light: bool = False) -> JobRecord | None:
        if "\x00" in job_id:  # text cannot hold a NUL: psycopg would raise, not find nothing
            return None
        columns = rows.JOB_SELECT_LIGHT if light else rows.JOB_SELECT
        found = self._select("WHERE id = %s", (job_id,), columns)
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
        clauses = [] if status is None else [_status_clause(status)]
        params: dict[str, Any] = {"now": time.time(), "limit": limit, "offset": offset}
        for column, value in (("queue", queue), ("task", task)):
            if value is not None:
                clauses.append(f"{column} = %({column})s")
                params[column] = value
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._select(f"{where} ORDER BY seq DESC LIMIT %(limit)s OFFSET %(offset)s", params)

    def counts(self) -> dict[str, dict[JobStatus, int]]:
        with self._conn() as conn:
            found = fetch(conn, self._sql["counts"], {"now": time.time()})
        out: dict[str, dict[JobStatus, int]] = {}
        for queue, status, n in found:
            out.setdefault(queue, {})[JobStatus(status)] = n
        return out

    def stats(self, now: float, alive_since: float) -> StoreStats:
        params = {"now": now, "alive_since": alive_since, "cap": sql_stats.EXACT_UP_TO}
        with self._conn() as conn:

            def estimate(kind: str, queue: str) -> float:
                query = self._sql[f"estimate_{kind}"]
                [(plan,)] = fetch(conn, query, {"queue": queue, "now": now})
                return float(plan[0]["Plan"]["Plan Rows"])

            found = sql_stats.estimate_above_cap(fetch(conn, self._sql["stats"], params), estimate)
        return sql_stats.gather(found, now)

    def cancel(self, job_id: str, *, grace: float | None = None) -> bool:
        now = time.time()
        params = {"now": now, "id": job_id, "grace": grace}
        with self._conn() as conn, conn.transaction():
            changed = fetch(conn, self._sql["cancel"], params)
            cancelled = [status for (status,) in changed] == ["cancelled"]
            if cancelled:
                postgres_deps.doom(conn, self._sql, [(job_id, JobStatus.CANCELLED)], now)
        return cancelled

    def count_ahead(self, job_id: str, limit: int) -> int:
        if "\x00" in job_id:  # no job has one (see get)
            return 0
        params = {"id": job_id, "now": time.time(), "limit": max(0, limit)}
        with self._conn() as conn:
            [(count,)] = fetch(conn, self._sql["count_ahead"], params)
        return int(count)

    def retry(self, job_id: str) -> bool:
        now = time.time()
        params = {"now": now, "mark": json.dumps(now), "id": job_id, "channel": self.channel}
        try:
            with self._conn() as conn, conn.transaction():
                requeued = fetch(conn, self._sql["retry"], params)
                if requeued:
                    postgres_deps.revive(conn, self._sql, job_id)
        except psycopg.errors.UniqueViolation:
            return False  # another live job holds its unique_key
        return len(requeued) == 1

    def dependent_ids(self, job_id: str) -> list[str]:
        with self._conn() as conn:
            return [d for (d,) in fetch(conn, self._sql["dependent_ids"], {"id": job_id})]

    def close(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        self._source.close()


def _status_clause(status: JobStatus) -> str:
    status = JobStatus(status)
    if status is JobStatus.SCHEDULED:
        return "status = 'queued' AND run_at > %(now)s"
    if status is JobStatus.QUEUED:
        return "status = 'queued' AND run_at <= %(now)s"
    return f"status = '{status.value}'"
