"""What bounds the targets backburner misses, measured on this machine.

    python -m bench.bounds [--redis redis://127.0.0.1:6379/0]

1. A durable SQLite enqueue: a bare INSERT + COMMIT in WAL mode, with no Python library
   around it, for Huey's table, for ours, and for ours without its id index (what one
   b-tree fewer saves), synchronous=FULL and OFF; and the WAL pages each library's
   enqueue writes (run it in the peers' virtualenv, which has Huey).
2. A Redis enqueue: server time of our enqueue script against one LPUSH (INFO
   commandstats), and what the client side of each costs.
3. Idle latency: one Redis PING round trip, hot and after the process slept 20 ms (as
   the harness pauses between latency samples).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib import resources

import redis

from backburner.job import new_id
from backburner.stores.sqlite_deps import _INSERT_PLAIN
from bench.app import build

HUEY_TABLE = (
    "CREATE TABLE task (id INTEGER NOT NULL PRIMARY KEY, queue TEXT NOT NULL, "
    "data BLOB NOT NULL, priority REAL NOT NULL DEFAULT 0.0);"
    "CREATE INDEX task_priority_id ON task (priority DESC, id ASC)"
)


def per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    began = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - began) / n * 1e6


def sqlite_commit(n: int, rounds: int = 5) -> None:
    """A bare durable INSERT + COMMIT into Huey's table, into ours, and into ours without
    its id index (what one b-tree fewer would save), in alternating rounds; with
    synchronous=FULL (as the harness runs both) and OFF (the CPU part alone)."""
    ours = resources.files("backburner.stores").joinpath("sql/sqlite.sql").read_text()
    unique = "id               TEXT    NOT NULL UNIQUE,"
    assert unique in ours, "the id column changed: update bench/bounds.py"
    schemas = {
        "huey": HUEY_TABLE,
        "backburner": ours,
        "bb, no id index": ours.replace(unique, "id TEXT NOT NULL,"),
    }
    for sync in ("FULL", "OFF"):
        costs: dict[str, list[float]] = {name: [] for name in schemas}
        for _ in range(rounds):
            for name, schema in schemas.items():
                costs[name].append(_bare_insert_us(name, schema, sync, n))
        for name, per_round in costs.items():
            print(
                f"  {name:16s} bare INSERT+COMMIT, synchronous={sync:4s}: "
                f"{statistics.median(per_round):6.1f} us (median of {rounds} rounds)"
            )


def _bare_insert_us(name: str, schema: str, sync: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(f"{tmp}/bench.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.executescript(schema)
        if name == "huey":

            def insert(c: sqlite3.Connection = conn) -> None:
                c.execute("BEGIN")
                c.execute("INSERT INTO task (queue, data) VALUES (?, ?)", ("q", os.urandom(200)))
                c.execute("COMMIT")

        else:

            def insert(c: sqlite3.Connection = conn) -> None:
                now = time.time()
                payload = '[["bench:key",1,1764423000.1],{}]'
                row = (new_id(), "bench.record", "default", payload, 0)
                c.execute("BEGIN IMMEDIATE")
                rest = (now, now, 4, 1.0) + (None,) * 8  # no timeout, key, trace, limits
                c.execute(_INSERT_PLAIN, (*row, *rest))  # the store's own
                c.execute("COMMIT")

        try:
            return per_call_us(insert, n)
        finally:
            conn.close()


def sqlite_pages(n: int) -> None:
    """WAL pages one durable enqueue writes (one per b-tree it changes, as a rule): the
    WAL's growth over `n` enqueues with no checkpoint between; the same under any load."""
    from huey import SqliteHuey  # type: ignore[import-not-found]  # the peers' venv has it

    def pages(path: str) -> float:
        return (os.path.getsize(path + "-wal") - 32) / (4096 + 24)  # header, frames

    with tempfile.TemporaryDirectory() as tmp:
        bb = build(f"sqlite:///{tmp}/bb.db")
        huey = SqliteHuey("bounds", filename=f"{tmp}/huey.db")
        send = {"backburner": bb.tasks["noop"].delay, "huey": huey.task()(lambda n: None)}
        for name, enqueue in send.items():
            path = f"{tmp}/{'bb' if name == 'backburner' else 'huey'}.db"
            for i in range(200):  # past the trees' first pages
                enqueue(i)
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            before = pages(path)
            for i in range(n):
                enqueue(i)
            print(f"  {name:10s} WAL pages per durable enqueue: {(pages(path) - before) / n:.2f}")
        bb.close()


def redis_enqueue(url: str, n: int) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    prefix = f"bounds{os.getpid()}"
    bb = build(f"{url}?prefix={prefix}")
    noop = bb.tasks["noop"]
    try:
        client.config_resetstat()
        ours = per_call_us(lambda: noop.delay(1), n)
        script = client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
        client.config_resetstat()
        lpush = per_call_us(lambda: client.lpush(f"{prefix}:list", "x" * 200), n)
        lpush_server = client.info("commandstats")["cmdstat_lpush"]["usec_per_call"]
        ping = per_call_us(client.ping, n)
        print(
            f"  backburner delay(): {ours:6.1f} us, of which script on the server {script:5.1f} us"
        )
        print(
            f"  redis-py LPUSH:     {lpush:6.1f} us, of which on the server {lpush_server:5.1f} us"
        )
        print(f"  PING round trip:    {ping:6.1f} us")
    finally:
        bb.close()
        client.delete(f"{prefix}:list")
        for key in client.scan_iter(match=f"{{{prefix}}}*", count=1000):
            client.delete(key)


def cold_ping(url: str, n: int) -> None:
    client = redis.Redis.from_url(url)
    for pause in (0.0, 0.02):
        lags = []
        for _ in range(n):
            if pause:
                time.sleep(pause)
            began = time.perf_counter()
            client.ping()
            lags.append(time.perf_counter() - began)
        label = "hot" if not pause else f"after {pause * 1000:.0f} ms idle"
        print(f"  PING p50 {label:18s} {statistics.median(lags) * 1e6:6.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    print("1. durable SQLite enqueue")
    sqlite_commit(args.calls)
    sqlite_pages(100)
    print("2. Redis enqueue")
    redis_enqueue(args.redis, args.calls)
    print("3. idle Redis round trip")
    cold_ping(args.redis, 300)


if __name__ == "__main__":
    main()
