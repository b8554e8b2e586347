"""The peers' best single-call bulk enqueue, for bench/bulk.py's figures to stand beside.

    python -m bench.bulk_peers [--redis redis://127.0.0.1:6379/15] [--jobs 50000]

Run it in the peers' virtualenv (bench/bootstrap.py makes one; rq and huey suffice). RQ's
`Queue.enqueue_many` stores a batch in one Redis pipeline (MULTI/EXEC); huey has no bulk
call, so its figure is one `enqueue` per job on Redis, its fastest store. Each run uses
its own queue name and deletes it after.
"""

from __future__ import annotations

import argparse
import secrets
import time


def noop(n: int) -> None:
    return None


def rq_enqueue_many(url: str, n: int) -> float:
    from redis import Redis
    from rq import Queue

    queue = Queue(f"bulk_{secrets.token_hex(3)}", connection=Redis.from_url(url))
    try:
        began = time.perf_counter()
        queue.enqueue_many([Queue.prepare_data(noop, (i,)) for i in range(n)])
        return n / (time.perf_counter() - began)
    finally:
        queue.empty()
        queue.delete(delete_jobs=True)


def huey_enqueue(url: str, n: int) -> float:
    from huey import RedisHuey

    huey = RedisHuey(f"bulk_{secrets.token_hex(3)}", url=url)
    task = huey.task()(noop)
    try:
        began = time.perf_counter()
        for i in range(n):
            task(i)
        return n / (time.perf_counter() - began)
    finally:
        huey.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--jobs", type=int, default=50_000)
    args = parser.parse_args()
    rate = rq_enqueue_many(args.redis, args.jobs)
    print(f"rq Queue.enqueue_many, {args.jobs:,} jobs in one call: {rate:10,.0f} jobs/s")
    rate = huey_enqueue(args.redis, min(args.jobs, 10_000))
    print(f"huey, one enqueue per job (no bulk call):   {rate:10,.0f} jobs/s")


if __name__ == "__main__":
    main()
