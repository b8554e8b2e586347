"""The producer side of one contender, run by the harness in a process of its own.

    python -m bench.drive MODULE setup
    python -m bench.drive MODULE enqueue --key K --jobs N
    python -m bench.drive MODULE latency --key K --jobs N [--pause S] [--wait S]

MODULE is a contender's app (`bench.peers.huey`...), configured by the environment. The
result is one JSON object on stdout; a failure is one line on stderr and exit code 2.
Each library is imported in a fresh process, so none of them sees another's state.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from types import ModuleType
from typing import Any

import redis

WARM_SEQ = -1


def setup(app: ModuleType) -> dict[str, Any]:
    """Check the store can be used (`probe`) and create its schema (`prepare`)."""
    for step in ("probe", "prepare"):
        fn = getattr(app, step, None)
        if fn is not None:
            fn()
    return {}


def enqueue(app: ModuleType, key: str, jobs: int) -> dict[str, Any]:
    """One job per call from this one process; the connection is opened beforehand."""
    _open(app)
    app.enqueue(f"{key}:warm", WARM_SEQ, time.time())
    began = time.perf_counter()
    for seq in range(jobs):
        app.enqueue(key, seq, time.time())
    elapsed = time.perf_counter() - began
    return {"rate": jobs / elapsed, "seconds": elapsed}


def latency(app: ModuleType, key: str, jobs: int, pause: float, wait: float) -> dict[str, Any]:
    """Sequential jobs on an idle worker: enqueue one, wait for it to start, pause."""
    _open(app)
    marks = redis.Redis.from_url(os.environ["BENCH_REDIS"])
    app.enqueue(key, WARM_SEQ, time.time())
    if marks.blpop([key], timeout=wait * 3) is None:
        raise TimeoutError(f"the first job did not start within {wait * 3:.0f}s")
    lags: list[float] = []
    missing = stray = 0
    for seq in range(jobs):
        time.sleep(pause)
        app.enqueue(key, seq, time.time())
        lag, strays = _wait_for(marks, key, seq, wait)
        stray += strays
        if lag is None:
            missing += 1
            if missing >= 3:
                raise TimeoutError(f"{missing} jobs did not start within {wait:.0f}s each")
        else:
            lags.append(lag)
    time.sleep(pause * 5)
    return {"lags": lags, "missing": missing, "extra": stray + marks.llen(key)}


def _wait_for(marks: redis.Redis, key: str, seq: int, wait: float) -> tuple[float | None, int]:
    """(lag of job `seq` or None if it did not start in time, marks of other jobs seen)."""
    deadline = time.monotonic() + wait
    strays = 0
    while (left := deadline - time.monotonic()) > 0:
        popped = marks.blpop([key], timeout=left)
        if popped is None:
            break
        mark = popped[1]
        text = mark.decode() if isinstance(mark, bytes) else mark
        got, started, enqueued = text.split(":")
        if int(got) == seq:
            return float(started) - float(enqueued), strays
        strays += 1  # a duplicate, or a job that had been given up on
    return None, strays


def _open(app: ModuleType) -> None:
    opener = getattr(app, "open_producer", None)
    if opener is not None:
        opener()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("mode", choices=["setup", "enqueue", "latency"])
    parser.add_argument("--key", default="bench:drive")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--pause", type=float, default=0.02)
    parser.add_argument("--wait", type=float, default=10.0)
    args = parser.parse_args()
    try:
        app = importlib.import_module(args.module)
        if args.mode == "setup":
            out = setup(app)
        elif args.mode == "enqueue":
            out = enqueue(app, args.key, args.jobs)
        else:
            out = latency(app, args.key, args.jobs, args.pause, args.wait)
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(reason[:300], file=sys.stderr)
        sys.exit(2)
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)  # some libraries leave non-daemon threads behind; we are done


if __name__ == "__main__":
    main()
