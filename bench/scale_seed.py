"""Filling a store fast for bench/scale.py, and weighing it.

Finished jobs are made the way a bulk load would: enqueued in big batches through the
store's own path (PostgreSQL's big plain batches use COPY, Redis one script per batch),
then turned into succeeded jobs behind the store's back, keeping its layout exactly as
`complete` leaves it: SQL UPDATEs on SQLite and PostgreSQL; on Redis the queue's listing
index is renamed to the succeeded one and every job's hash and the finished index are
written in pipelines. That takes about a minute per million jobs instead of the hour
that claiming and completing them one by one would.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any
from urllib.parse import parse_qsl

from backburner import Backburner

BATCH = 50_000  # jobs per bulk enqueue
PIPE = 10_000  # commands per Redis pipeline


def kind(url: str) -> str:
    """'sqlite', 'postgres' or 'redis'."""
    if url.startswith("sqlite"):
        return "sqlite"
    return "postgres" if url.startswith("postgres") else "redis"


def option(url: str, name: str) -> str:
    """A query option of the URL (the PostgreSQL schema, the Redis prefix)."""
    return dict(parse_qsl(url.partition("?")[2]))[name]


def server(url: str) -> str:
    return url.partition("?")[0]


def enqueue(bb: Backburner, n: int) -> None:
    """`n` no-op jobs, queued, in batches of BATCH."""
    noop = bb.tasks["noop"]
    for start in range(0, n, BATCH):
        noop.map((i,) for i in range(start, min(n, start + BATCH)))


def seed_finished(bb: Backburner, url: str, n: int, age: float) -> None:
    """Add `n` succeeded jobs that finished about `age` seconds ago. The store must hold
    no queued job when called (every queued job is turned into a finished one)."""
    enqueue(bb, n)
    finished_at = time.time() - age
    which = kind(url)
    if which == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(_FINISH.replace("%s", "?"), (finished_at, finished_at))
    elif which == "postgres":
        import psycopg

        with psycopg.connect(server(url), autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{option(url, "schema")}"')
            conn.execute(_FINISH, (finished_at, finished_at))
            conn.execute("VACUUM ANALYZE bb_jobs")  # as autovacuum would, in time
    else:
        _finish_redis(url, finished_at)


_FINISH = (
    "UPDATE bb_jobs SET status = 'succeeded', attempts = 1, token = 1, worker_id = 'seed', "
    "started_at = %s, finished_at = %s WHERE status = 'queued'"
)


def _finish_redis(url: str, finished_at: float) -> None:
    import redis

    client: Any = redis.Redis.from_url(server(url))  # replies typed loosely by redis-py
    ns = "{" + option(url, "prefix") + "}"
    queued, done = f"{ns}:idx:queued:default", f"{ns}:idx:succeeded:default"
    ids = [i.decode() for i in client.zrange(queued, 0, -1)]
    # the claim reads the ready set; listing and counts the idx sets; purge the finished
    client.delete(f"{ns}:ready:default", f"{ns}:wake:default")
    if client.exists(done):
        client.zunionstore(done, [done, queued])
        client.delete(queued)
    else:
        client.rename(queued, done)
    for start in range(0, len(ids), PIPE):
        pipe = client.pipeline(transaction=False)
        chunk = ids[start : start + PIPE]
        for job_id in chunk:
            pipe.hset(
                f"{ns}:job:{job_id}",
                mapping={
                    "status": "succeeded",
                    "attempts": 1,
                    "token": 1,
                    "worker_id": "seed",
                    "started_at": repr(finished_at),
                    "finished_at": repr(finished_at),
                },
            )
        pipe.zadd(f"{ns}:finished", dict.fromkeys(chunk, finished_at))
        pipe.execute()


def maintain(url: str) -> None:
    """On PostgreSQL, VACUUM ANALYZE the jobs table, as autovacuum would in time: the
    test server runs with autovacuum off, and planned on statistics from before 100,000
    jobs were queued the claim reads every due job in run_at order and sorts them (130 ms
    a claim beside 1,000,000 finished jobs), while dead index entries left by claims slow
    every scan of the claim index."""
    if kind(url) != "postgres":
        return
    import psycopg

    with psycopg.connect(server(url), autocommit=True) as conn:
        conn.execute(f'VACUUM ANALYZE "{option(url, "schema")}".bb_jobs')


def backdate(url: str, age: float) -> None:
    """Make every finished job look finished `age` seconds ago (for result expiry)."""
    when = time.time() - age
    which = kind(url)
    if which == "redis":
        import redis

        client: Any = redis.Redis.from_url(server(url))  # replies typed loosely by redis-py
        key = "{" + option(url, "prefix") + "}:finished"
        ids = client.zrange(key, 0, -1)
        for start in range(0, len(ids), PIPE):
            client.zadd(key, dict.fromkeys(ids[start : start + PIPE], when))
        return
    sql = "UPDATE bb_jobs SET finished_at = %s WHERE finished_at IS NOT NULL"
    if which == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql.replace("%s", "?"), (when,))
        return
    import psycopg

    with psycopg.connect(server(url), autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{option(url, "schema")}"')
        conn.execute(sql, (when,))
        conn.execute("VACUUM ANALYZE bb_jobs")


def stored_bytes(url: str) -> tuple[int, str]:
    """(bytes the store takes, how that was measured)."""
    which = kind(url)
    if which == "sqlite":
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
        used = (pages - free) * size
        how = f"pages in use x page size; file {os.path.getsize(path) / 1e6:,.0f} MB"
        return used, how
    if which == "postgres":
        import psycopg

        schema = option(url, "schema")
        with psycopg.connect(server(url)) as conn:
            row = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchone()
        return int(row[0] if row else 0), "pg_total_relation_size of the schema's tables"
    import redis

    client: Any = redis.Redis.from_url(server(url))  # replies typed loosely by redis-py
    ns = "{" + option(url, "prefix") + "}"
    total = 0
    for key in client.scan_iter(match=f"{ns}*", count=5000):
        if b":job:" not in key:  # the indexes: few keys, each big
            total += int(client.memory_usage(key, samples=0) or 0)
    sample = client.zrange(f"{ns}:finished", 0, 999)
    jobs = client.zcard(f"{ns}:finished")
    per_hash = sum(int(client.memory_usage(f"{ns}:job:{i.decode()}") or 0) for i in sample)
    total += per_hash * jobs // max(1, len(sample))
    return total, "MEMORY USAGE: every index key, 1,000 job hashes sampled"
