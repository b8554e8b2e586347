"""Fresh, empty stores for each contender run, and their removal afterwards.

SQLite: a file in the run folder (on the same disk as the repo, where an app keeps it).
Redis: one database of the server, which must be empty when the run starts; it is
flushed after every contender run and at the end. PostgreSQL: a database per contender
run, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql


class StoreError(Exception):
    """A store the run needs cannot be used; the message says why."""


class Stores:
    """The servers of one run: checked at start, cleaned up at `close()`."""

    def __init__(self, folder: Path, redis_url: str, pg_dsn: str, run_id: str) -> None:
        self.folder, self.redis_url, self.pg_dsn, self.run_id = folder, redis_url, pg_dsn, run_id
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=30)
        self.down: dict[str, str] = {}  # kind -> why it cannot be used
        self.owned = False  # the Redis database was found empty: ours to flush
        self.versions: dict[str, str] = {}
        self._databases: list[str] = []

    def check(self) -> None:
        """Record which servers answer and their versions; refuse a Redis DB in use."""
        try:
            self.versions["Redis"] = str(self.redis.info("server")["redis_version"])
            keys = self.redis.dbsize()
        except redis.RedisError as exc:
            self.down["redis"] = f"Redis at {self.redis_url} does not answer: {exc}"
        else:
            if keys:
                raise StoreError(
                    f"Redis database {self.redis_url} holds {keys} keys, and the benchmark "
                    "flushes the database it uses: pick an empty one with --redis"
                )
            self.owned = True
        try:
            with psycopg.connect(self.pg_dsn, connect_timeout=10) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                self.versions["PostgreSQL"] = str(row[0] if row else "?")
        except psycopg.Error as exc:
            self.down["postgres"] = f"PostgreSQL at {self.pg_dsn} does not answer: {exc}"

    @contextlib.contextmanager
    def fresh(self, kind: str, name: str) -> Iterator[str]:
        """An empty store of `kind` for a run named `name`: a path or a URL."""
        if kind in self.down:
            raise StoreError(self.down[kind])
        if kind == "sqlite":
            path = self.folder / f"{name}.db"
            try:
                yield str(path)
            finally:
                _remove_sqlite(path)
        elif kind == "redis":
            yield self.redis_url
        else:
            database = f"bench_{self.run_id}_{name}".replace("-", "_")
            self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            self._databases.append(database)
            try:
                yield urlunsplit(urlsplit(self.pg_dsn)._replace(path=f"/{database}"))
            finally:
                self._drop(database)

    def flush(self) -> None:
        """Empty the run's Redis database (it held nothing before the run)."""
        if self.owned and "redis" not in self.down:
            self.redis.flushdb()

    def close(self) -> None:
        """Remove everything the run created that is still there."""
        for database in list(self._databases):
            self._drop(database)
        with contextlib.suppress(redis.RedisError):
            self.flush()
        self.redis.close()

    def _drop(self, database: str) -> None:
        self._admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        with contextlib.suppress(ValueError):
            self._databases.remove(database)

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:  # backburner's wake-up sockets live in a folder named after the database
        from backburner.stores.wakeup import channel_dir
    except ImportError:
        return
    shutil.rmtree(channel_dir(str(path)), ignore_errors=True)
