"""Connections for the PostgreSQL store: URL options, one pool per process, clear errors.

The pool (psycopg_pool) is created lazily in the process that uses it. After `fork()` the
child builds its own and never touches the parent's sockets (see forks.py): the inherited
pool is kept referenced and unused, and psycopg does not close a connection object
collected in another process than the one that opened it.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import DuplicatePreparedStatement, InvalidSqlStatementName
from psycopg.pq import PipelineStatus, TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreUnavailable
from ..urls import redact, scrub
from .forks import on_fork_in_child

Connection = psycopg.Connection[Any]
log = logging.getLogger("backburner.store")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
# Options backburner reads itself; every other query parameter is libpq's.
_OWN_OPTIONS = (
    "schema",
    "migrate",
    "pool_size",
    "pool_timeout",
    "poll",
    "pgbouncer",
    "listen_url",
)
# How long a checkout waits before asking "is the server there at all?" with a probe
# connection, so a request fails in about a second when PostgreSQL is down.
_FIRST_WAIT = 1.0
# A dead LISTEN connection must be noticed even when no packet ever comes back.
_LISTEN_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
}


@dataclass(frozen=True)
class PostgresOptions:
    """A PostgreSQL store URL, split into what psycopg gets and what backburner reads."""

    conninfo: str
    safe_url: str
    schema: str = "public"
    migrate: bool = True
    pool_size: int = 10
    pool_timeout: float = 10.0
    poll: float = 1.0
    # behind PgBouncer in transaction pooling: no prepared statements, no session state
    pgbouncer: bool = False
    # a direct (unpooled) URL for LISTEN, which needs a session; else the one above
    listen_url: str | None = None


def parse_url(url: str) -> PostgresOptions:
    """postgresql://user:pw@host:port/db?schema=jobs&migrate=false -> PostgresOptions.

    Raises ValueError for a malformed value of a backburner option.
    """
    parts = urlsplit(url)
    own: dict[str, str] = {}
    rest: list[str] = []
    for item in filter(None, parts.query.split("&")):
        key, _, value = item.partition("=")
        if unquote(key) in _OWN_OPTIONS:
            own[unquote(key)] = unquote(value)
        else:
            rest.append(item)  # untouched: libpq decodes it its own way ("+" is not a space)
    conninfo = urlunsplit(parts._replace(query="&".join(rest)))
    safe_url = redact(url)
    _check_libpq_options(rest, url)
    defaults = PostgresOptions(conninfo=conninfo, safe_url=safe_url)
    try:
        return PostgresOptions(
            conninfo=conninfo,
            safe_url=safe_url,
            schema=_schema(own.get("schema", defaults.schema)),
            migrate=_flag(own.get("migrate", "true"), "migrate"),
            pool_size=int(_positive("pool_size", own.get("pool_size", defaults.pool_size))),
            pool_timeout=_positive("pool_timeout", own.get("pool_timeout", defaults.pool_timeout)),
            poll=_positive("poll", own.get("poll", defaults.poll)),
            pgbouncer=_flag(own.get("pgbouncer", "false"), "pgbouncer"),
            listen_url=_listen_url(own.get("listen_url")),
        )
    except ValueError as exc:
        raise ValueError(
            f"bad PostgreSQL store URL {safe_url!r}: {exc}; backburner options are "
            "schema=NAME, migrate=true|false, pool_size=N, pool_timeout=SECONDS, poll=SECONDS, "
            "pgbouncer=true|false, listen_url=postgresql://... (percent-encoded)"
        ) from None


def _check_libpq_options(query: list[str], url: str) -> None:
    """Refuse a query parameter neither backburner nor libpq knows (libpq would only say
    'invalid URI query parameter' at the first connection), naming the valid ones."""
    # libpq's own list, read from the installed library: no connection needed
    libpq = sorted(o.keyword.decode() for o in psycopg.pq.Conninfo.get_defaults())
    known = {*libpq, "ssl"}  # ssl=true: the URI alias of sslmode=require
    unknown = [n for n in (unquote(item.partition("=")[0]) for item in query) if n not in known]
    if unknown:
        name = unknown[0]
        near = difflib.get_close_matches(name, [*_OWN_OPTIONS, *libpq], n=1)
        raise ValueError(
            # their values hidden too: a misspelt password option is still a password
            f"unknown option {name!r} in PostgreSQL store URL {redact(url, hide=unknown)!r}: "
            + (f"did you mean {near[0]}? " if near else "")
            + f"backburner's options are {', '.join(_OWN_OPTIONS)}; libpq's are "
            + ", ".join(libpq)
        )


def _schema(name: str) -> str:
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"schema={name!r} must be letters, digits and _ (at most 63)")
    return name


def _positive(name: str, value: str | float) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"{name}={value!r} must be a number > 0")
    return number


def _flag(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered not in _TRUE | _FALSE:
        raise ValueError(f"{name}={value!r} must be true or false")
    return lowered in _TRUE


def _listen_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("listen_url must be a postgresql:// URL (percent-encode its ? and &)")
    return value


def decoded(value: Any) -> Any:
    """A jsonb value as rows.py wants it: psycopg has decoded it already."""
    return value


def fetch(
    conn: Connection, query: str, params: Any = None, prepare: bool | None = None
) -> list[tuple[Any, ...]]:
    """The rows `query` returns on `conn`, as tuples (none for a statement without)."""
    # an explicit row factory: a caller's connection may have been given another one
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query, params, prepare=prepare)
        return cur.fetchall() if cur.description is not None else []


def rowcount(conn: Connection, query: str, params: Any = None) -> int:
    """How many rows `query` changed on `conn`."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query, params)
        return cur.rowcount


# One round trip for several statements needs libpq 14 or newer (psycopg's binary
# package bundles one); with an older libpq they go one after another.
PIPELINE = psycopg.Pipeline.is_supported()


@contextmanager
def round_trip(conn: Connection) -> Iterator[None]:
    """Send the statements executed inside as they come, and read every result once, at
    the end (psycopg's pipeline). On an error, a transaction `atomic` left open is rolled
    back."""
    try:
        with conn.pipeline() if PIPELINE else nullcontext():
            yield
    except BaseException:
        if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            conn.rollback()
        raise


@contextmanager
def atomic(conn: Connection) -> Iterator[None]:
    """One transaction for the statements executed inside, within `round_trip`: BEGIN and
    COMMIT are sent along with them, so the server commits as soon as it has run them.
    (psycopg's transaction() in a pipeline reads every result before it sends COMMIT: the
    transaction, and its row locks, then last until this process is scheduled again.)"""
    if conn.pgconn.pipeline_status == PipelineStatus.OFF:
        with conn.transaction():
            yield
        return
    conn.execute("BEGIN", prepare=False)
    yield
    conn.execute("COMMIT", prepare=False)


def _configure(conn: Connection) -> None:
    # Claims rely on READ COMMITTED: a row whose lock SKIP LOCKED obtained is re-checked at
    # its latest version. Under a stricter server default they would fail to serialize.
    conn.execute("SET default_transaction_isolation TO 'read committed'")


def _check_isolation(conn: Connection) -> None:
    """_configure for PgBouncer: a SET would stay on a server connection it shares, so
    only check the server's default, and warn of a stricter one."""
    [(level,)] = fetch(conn, "SHOW default_transaction_isolation")
    if level != "read committed":
        log.warning(
            "default_transaction_isolation is %r behind PgBouncer (pgbouncer=true): "
            "backburner's claims need 'read committed' and may fail to serialize. Set it "
            "for the database: ALTER DATABASE ... SET default_transaction_isolation = "
            "'read committed'",
            level,
        )


def is_alive(conn: Connection) -> bool:
    """Cheap check of an idle pooled connection, without a round trip in the usual case.

    An idle connection's socket has nothing to read unless the server closed it (a
    restart) or sent an unsolicited message; only then is a ping worth its cost.
    """
    if conn.closed:
        return False
    try:
        fd = conn.fileno()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            readable = bool(poller.poll(0))
        else:  # pragma: no cover - Windows
            readable = bool(select.select([fd], [], [], 0)[0])
        if readable:
            conn.execute("")
    except (OSError, ValueError, psycopg.Error):
        return False
    return not conn.closed


class ConnectionSource:
    """This process's connections to one database: a pool, plus dedicated connections."""

    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        given = conninfo_to_dict(options.conninfo)
        self._defaults: dict[str, Any] = {}
        if options.pgbouncer:
            # PgBouncer < 1.21 in transaction pooling cannot keep a prepared statement: the
            # next transaction may run on another server connection, which lacks it
            self._defaults["prepare_threshold"] = None
        if "connect_timeout" not in given:
            self._defaults["connect_timeout"] = 10
        if "application_name" not in given and "PGAPPNAME" not in os.environ:
            self._defaults["application_name"] = "backburner"
        self._listen_defaults = {k: v for k, v in _LISTEN_KEEPALIVE.items() if k not in given}
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Connection] | None = None
        self._inherited: list[ConnectionPool[Connection]] = []  # the parent's, never used
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, str | None] = (0.0, None)
        on_fork_in_child(self, ConnectionSource._after_fork)

    def _after_fork(self) -> None:
        # The parent's pool: its sockets and its worker threads stay the parent's.
        if self._pool is not None:
            self._inherited.append(self._pool)
            self._pool = None
        # A lock held by another thread of the parent at fork() would stay held forever.
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()

    def _current_pool(self) -> ConnectionPool[Connection]:
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.options.conninfo,
                    kwargs={"autocommit": True, **self._defaults},
                    configure=_check_isolation if self.options.pgbouncer else _configure,
                    min_size=1,
                    max_size=max(1, self.options.pool_size),
                    timeout=self.options.pool_timeout,
                    # give up a reconnection attempt early: a request that finds the pool
                    # empty starts a fresh one, so recovery after an outage stays prompt
                    reconnect_timeout=15.0,
                    name="backburner",
                    open=True,
                )
            return self._pool

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection]:
        """A pooled autocommit connection; psycopg OperationalError becomes StoreUnavailable."""
        pool = self._current_pool()
        conn = self._checkout(pool, self.options.pool_timeout if timeout is None else timeout)
        try:
            with self.errors():
                yield conn
        finally:
            pool.putconn(conn)

    def _checkout(self, pool: ConnectionPool[Connection], budget: float) -> Connection:
        deadline = time.monotonic() + budget
        probed = False
        while True:
            left = deadline - time.monotonic()
            wait = left if probed else min(left, _FIRST_WAIT)
            try:
                conn = pool.getconn(timeout=max(wait, 0.001))
            except PoolTimeout:
                if probed or time.monotonic() >= deadline:
                    raise self._starved(budget, probed) from None
                self.probe()
                probed = True
                continue
            except psycopg.OperationalError as exc:
                raise self.unavailable(str(exc)) from exc
            if is_alive(conn):
                return conn
            conn.close()  # the pool replaces a closed connection in the background
            pool.putconn(conn)

    def _starved(self, budget: float, probed: bool) -> StoreUnavailable:
        if not probed:
            self.probe()
        return self.unavailable(
            f"the server answers, but no pooled connection was free within {budget:g}s "
            f"(pool_size={self.options.pool_size}); raise pool_size or pool_timeout in the "
            "URL, or look for long-running transactions"
        )

    def probe(self) -> None:
        """Connect once outside the pool; raise StoreUnavailable saying why it failed.

        One probe at a time per process, its answer reused for a second, so a crowd of
        waiting threads does not become a crowd of connection attempts.
        """
        with self._probe_lock:
            at, error = self._probe
            if time.monotonic() - at > 1.0:
                error = None
                try:
                    self.connect(connect_timeout=2).close()
                except psycopg.Error as exc:
                    error = str(exc).strip() or type(exc).__name__
                self._probe = (time.monotonic(), error)
        if error is not None:
            raise self.unavailable(error)

    def connect(self, listen: bool = False, **overrides: Any) -> Connection:
        """A dedicated autocommit connection (not pooled); the caller closes it. One to
        LISTEN on goes to `listen_url` when the URL gives one."""
        extra = {**self._defaults, **(self._listen_defaults if listen else {}), **overrides}
        conninfo = self.options.conninfo
        if listen and self.options.listen_url:
            conninfo = self.options.listen_url
        return psycopg.connect(conninfo, autocommit=True, **extra)

    def unavailable(self, reason: str) -> StoreUnavailable:
        """The error users see when PostgreSQL cannot be used, with what to check."""
        reason = scrub(reason.strip(), self.options.conninfo)  # libpq may quote the URL
        return StoreUnavailable(
            f"PostgreSQL store {self.options.safe_url} is unavailable: {reason}. "
            "Check that the server is running and accepts connections from this host, and "
            "that the host, port, database, user and password in the URL are right."
        )

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Raise psycopg's OperationalError (connection lost, server shutting down, pool
        timeout) as StoreUnavailable."""
        try:
            yield
        except psycopg.OperationalError as exc:
            raise self.unavailable(str(exc) or type(exc).__name__) from exc
        except (DuplicatePreparedStatement, InvalidSqlStatementName) as exc:
            # psycopg prepares a statement after 5 uses, per session: a pooler that hands
            # the next transaction another server connection meets a missing or stale one
            raise StoreUnavailable(
                f"PostgreSQL store {self.options.safe_url}: {exc}. The URL likely names a "
                "PgBouncer in transaction pooling mode: add pgbouncer=true to the URL"
            ) from exc

    def close(self) -> None:
        """Close this process's pool; a later use opens a new one."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=5.0)
