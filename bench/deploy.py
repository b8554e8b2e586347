"""Figures beyond one machine: PostgreSQL behind PgBouncer, Redis Cluster with a failover.

    python -m bench.deploy pgbouncer [--samples 40]   # from the repository root
    python -m bench.deploy cluster [--jobs 300]

`pgbouncer` starts a PgBouncer (transaction pooling, tests/servers/pgbouncer.py) in front
of --postgres and prints the enqueue-to-start latency (p50, p90) of a lone job on an idle
worker: direct to PostgreSQL (LISTEN), through PgBouncer with `listen_url=` (LISTEN on a
direct connection), and through PgBouncer polling (`poll=1`, the default, and `poll=0.2`).
Each job is enqueued after a random pause, so polling is met at a random phase.

`cluster` starts a Redis Cluster (tests/servers/redis_cluster.py: 3 primaries, a replica
of the store's slot holder, appendfsync always) and prints the single delay() time on it
with and without `wait_replicas=1`, then, for each, a failover: delay() in a loop while
the slot's primary is killed (-9), the replica promoted and the old primary brought back
as its replica. It counts acknowledged jobs lost, refused calls whose job was stored
anyway, and how long delay() failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from tests.servers.pgbouncer import PgBouncer
from tests.servers.redis_cluster import LocalCluster

from backburner.errors import StoreUnavailable
from bench.app import build
from bench.core import worker


def _quantiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[int(len(values) * 0.9)]


def latency(url: str, samples: int, seed: int) -> tuple[float, float]:
    """p50 and p90 seconds from delay() to the start of a lone job on an idle worker."""
    bb = build(url)
    started = bb.tasks["started"]
    pause = random.Random(seed)
    proc = worker(url, "-p", "1", "-t", "1")
    try:
        started.delay(time.time()).wait(timeout=60)
        lags = []
        for _ in range(samples):
            time.sleep(pause.uniform(0.0, 1.0))  # a random phase against any poll
            lags.append(started.delay(time.time()).wait(timeout=60))
        return _quantiles(lags)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        bb.close()


def pgbouncer(postgres: str, samples: int) -> None:
    import psycopg

    bouncer = PgBouncer(postgres).start()
    schemas: list[str] = []

    def fresh() -> str:
        schemas.append(f"bench_deploy_{uuid.uuid4().hex[:8]}")
        return schemas[-1]

    direct = quote(postgres, safe="")
    modes = {
        "direct to PostgreSQL (LISTEN)": f"{postgres}?schema={{}}",
        "PgBouncer + listen_url (LISTEN direct)": (
            f"{bouncer.url}?schema={{}}&pgbouncer=true&listen_url={direct}"
        ),
        "PgBouncer polling, poll=1 (default)": f"{bouncer.url}?schema={{}}&pgbouncer=true",
        "PgBouncer polling, poll=0.2": f"{bouncer.url}?schema={{}}&pgbouncer=true&poll=0.2",
    }
    try:
        print(f"enqueue-to-start latency, {samples} lone jobs each, idle worker -p 1 -t 1")
        for name, url in modes.items():
            p50, p90 = latency(url.format(fresh()), samples, seed=1)
            print(f"  {name:42} p50 {p50 * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms")
    finally:
        bouncer.stop()
        with psycopg.connect(postgres, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def delay_time(url: str, n: int) -> float:
    """Microseconds per delay(), one thread."""
    bb = build(url)
    noop = bb.tasks["noop"]
    noop.delay(0)
    began = time.perf_counter()
    for i in range(n):
        noop.delay(i)
    spent = time.perf_counter() - began
    bb.close()
    return spent / n * 1e6


FIRST = 10**6


def failover(cluster: LocalCluster, url: str, jobs: int) -> dict[str, float]:
    """delay(i) for i = 0, 1, ... while the slot's primary is killed and comes back."""
    bb = build(url)
    noop = bb.tasks["noop"]
    acked: dict[int, str] = {}
    refused: list[tuple[int, float]] = []
    stop = threading.Event()

    def produce() -> None:
        for i in range(FIRST, 10**9):  # above delay_time()'s arguments, in the same store
            if stop.is_set():
                return
            try:
                acked[i] = noop.delay(i).id
            except StoreUnavailable:
                refused.append((i, time.monotonic()))
                time.sleep(0.01)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        _until(lambda: len(acked) >= jobs)
        victim = cluster.holder()
        victim.kill()
        killed = time.monotonic()
        count = len(acked)
        cluster.wait_promoted()
        promoted = time.monotonic()
        victim.start()
        cluster.wait_replicated(victim)
        back = time.monotonic()
        _until(lambda: len(acked) >= count + jobs)
    finally:
        stop.set()
        thread.join()
    found = {}
    for record in bb.store.list_jobs(limit=10 * (len(acked) + len(refused))):
        found[json.loads(record.payload)[0][0]] = record.id
    lost = [i for i, job_id in acked.items() if found.get(i) != job_id]
    bb.close()
    return {
        "acknowledged": len(acked),
        "acknowledged_lost": len(lost),
        "refused": len(refused),
        "refused_but_stored": sum(1 for i, _ in refused if i in found),
        "failing_s": (refused[-1][1] - killed) if refused else 0.0,
        "promoted_after_s": promoted - killed,
        "replica_back_after_s": back - killed,
    }


def _until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the failover run did not get there in time")
        time.sleep(0.01)


def cluster_figures(jobs: int, rounds: int) -> None:
    for wait in ("0", "1"):
        folder = Path(tempfile.mkdtemp(prefix="bb-bench-cluster-"))
        cluster = LocalCluster(folder, f"bench-{uuid.uuid4().hex[:6]}").start()
        try:
            if wait == "0":  # both settings in turns on one cluster, before its failover
                times: dict[str, list[float]] = {"0": [], "1": []}
                for _ in range(rounds):
                    for option in times:
                        url = cluster.url(cluster.holder(), wait_replicas=option)
                        times[option].append(delay_time(url, 1000))
                for option, spent in times.items():
                    each = ", ".join(f"{us:.0f}" for us in spent)
                    print(f"delay() on the cluster, wait_replicas={option}: {each} us")
            url = cluster.url(cluster.holder(), wait_replicas=wait)
            print(f"failover, wait_replicas={wait}: {failover(cluster, url, jobs)}")
        finally:
            cluster.stop()
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("pgbouncer", "cluster"))
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.what == "pgbouncer":
        pgbouncer(args.postgres, args.samples)
    else:
        cluster_figures(args.jobs, args.rounds)


if __name__ == "__main__":
    main()
