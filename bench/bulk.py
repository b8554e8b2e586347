"""Bulk enqueue and dependency figures for one backburner store URL (issue 17).

    python -m bench.bulk [--url sqlite:///...] [--jobs 50000] [--single 3000] [--pairs 100]

Prints: the enqueue rate of one `bb.enqueue_many()` call of --jobs calls (one transaction,
or one script on Redis; the calls made with task.s() beforehand and inside the timing), of
`task.map()`, and of one job per `delay()` for comparison; then, with a worker running
(2 processes), the time from a dependency's completion to its dependent's start (p50 and
p99 of --pairs pairs, read from the store's own finished_at and started_at), when the same
worker may take both, and when the dependent is in a queue only another, idle, worker
serves (it must be woken).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time

from bench.app import build
from bench.core import worker
from bench.scratch import Scratch


def single_rate(url: str, n: int) -> float:
    bb = build(url)
    noop = bb.tasks["noop"]
    noop.delay(0)  # open the store outside the timing
    began = time.perf_counter()
    for i in range(n):
        noop.delay(i)
    return n / (time.perf_counter() - began)


def bulk_rate(url: str, n: int) -> float:
    bb = build(url)
    noop = bb.tasks["noop"]
    noop.delay(0)
    began = time.perf_counter()
    jobs = bb.enqueue_many(noop.s(i) for i in range(n))
    rate = n / (time.perf_counter() - began)
    assert len(jobs) == n
    return rate


def map_rate(url: str, n: int) -> float:
    bb = build(url)
    noop = bb.tasks["noop"]
    noop.delay(0)
    began = time.perf_counter()
    noop.map((i,) for i in range(n))
    return n / (time.perf_counter() - began)


def dependency_lag(url: str, pairs: int, across: bool) -> tuple[float, float]:
    """Seconds from a dependency's completion to its dependent's start: p50 and p99.

    One worker of 2 processes runs both jobs (the one that completes the dependency may
    claim the dependent in the same call), or, `across`, the dependent waits in another
    queue, for an idle worker of its own that must be woken."""
    bb = build(url)
    noop = bb.tasks["noop"]
    if across:
        procs = [worker(url, "-p", "1", "--queues", q) for q in ("default", "then")]
    else:
        procs = [worker(url, "-p", "2")]
    then = noop.options(queue="then") if across else noop
    try:
        noop.delay(0).wait(timeout=30)  # the workers are up
        then.delay(0).wait(timeout=30)
        lags = []
        for i in range(pairs):
            first, second = bb.chain(noop.s(i), then.s(i))
            second.wait(timeout=30)
            a, b = bb.store.get(first.id), bb.store.get(second.id)
            assert a is not None and b is not None
            lags.append((b.started_at or 0) - (a.finished_at or 0))
            time.sleep(0.01)
        lags.sort()
        return statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--single", type=int, default=3_000)
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Scratch(args.url, tmp)
        fresh = scratch.url  # an empty store per phase
        try:
            single = single_rate(fresh("enqueue"), args.single)
            print(f"enqueue, one job per delay():           {single:10,.0f} jobs/s")
            bulk = bulk_rate(fresh("drain"), args.jobs)
            print(
                f"enqueue_many, {args.jobs:,} jobs in one call: {bulk:10,.0f} jobs/s "
                f"({bulk / single:.0f}x)"
            )
            mapped = map_rate(fresh("drain"), args.jobs)
            print(f"task.map, {args.jobs:,} jobs in one call:     {mapped:10,.0f} jobs/s")
            for across, how in ((False, "same worker"), (True, "idle worker, other queue")):
                p50, p99 = dependency_lag(
                    fresh("enqueue" if across else "latency"), args.pairs, across
                )
                print(
                    f"dependency completed -> dependent started ({how}): "
                    f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
                )
        finally:
            scratch.drop()


if __name__ == "__main__":
    main()
