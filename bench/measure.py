"""One contender, one round: enqueue, drain, idle latency, memory, lost and duplicated jobs.

The steps, each bounded in time:
1. a fresh store; `drive setup` checks it can be used (else the contender is unavailable);
2. `drive enqueue` fills the queue with --jobs jobs, one per call: the enqueue rate;
3. the workers start (2 processes); drain throughput runs from the first job's start
   to the last one's, so start-up is excluded; RSS and PSS of their process trees
   are sampled;
4. on the now idle workers, `drive latency` measures enqueue-to-start of sequential jobs;
5. the workers are stopped, and the marks the jobs left in Redis are counted.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench.contenders import Contender
from bench.procs import Timeout, Workers, run_bounded
from bench.stores import StoreError, Stores

MIN_RATE = 20.0  # jobs/s below which a drain or an enqueue is given up as hung


class StepFailed(Exception):
    """A step of a contender run went wrong; the message says which and why."""


@dataclass
class Plan:
    """What every contender run does, and where."""

    root: Path  # the repository: the working directory of every process
    pythonpath: str  # the import path of every process: the repo, maybe a source snapshot
    folder: Path  # this run's logs and SQLite files
    redis_url: str  # where jobs leave their marks
    jobs: int
    latency_jobs: int
    pause: float
    stall: float  # seconds without progress after which a drain counts as stuck


@dataclass
class Outcome:
    """The figures of one contender run; None where a step did not get that far."""

    name: str
    round: int
    status: str = "ok"  # ok | unavailable: why | failed: why
    enqueue: float | None = None  # jobs/s
    drain: float | None = None  # jobs/s
    p50: float | None = None  # seconds
    p99: float | None = None
    rss: int | None = None  # bytes, peak of the sum over the worker process trees
    pss: int | None = None  # the same of PSS: pages shared by the tree counted once
    lost: int = 0
    dup: int = 0


def run_one(c: Contender, rnd: int, plan: Plan, stores: Stores) -> Outcome:
    """Measure `c` once; never raises for a contender's own failure."""
    out = Outcome(c.name, rnd)
    name = f"{c.name}-r{rnd}"
    try:
        with stores.fresh(c.store, name) as base:
            env = {
                **os.environ,
                "PYTHONPATH": plan.pythonpath,
                "BENCH_STORE": c.url(base),
                "BENCH_REDIS": plan.redis_url,
            }
            try:
                _drive(c, env, plan, ["setup"], 120.0)
            except (StepFailed, Timeout) as exc:
                out.status = f"unavailable: {exc}"
                return out
            _measure(c, env, plan, plan.folder / f"{name}.log", out, stores.redis)
    except StoreError as exc:
        out.status = f"unavailable: {exc}"
    except (StepFailed, Timeout, redis.RedisError, OSError) as exc:
        out.status = f"failed: {exc}"
    finally:
        stores.flush()
    return out


def _measure(
    c: Contender, env: dict[str, str], plan: Plan, log: Path, out: Outcome, marks: redis.Redis
) -> None:
    key = f"bench:{out.name}:{out.round}"
    limit = plan.jobs / MIN_RATE + 120
    enq = _drive(c, env, plan, ["enqueue", "--key", key, "--jobs", str(plan.jobs)], limit)
    out.enqueue = enq["rate"]
    workers = Workers(c.workers(env["BENCH_STORE"]), env, plan.root, log)
    failure: str | None = None
    with workers:
        try:
            _wait_drained(marks, key, plan, workers, log)
            lat = _drive(c, env, plan, _latency_args(key, plan), plan.latency_jobs * 2 + 90)
        except (StepFailed, Timeout) as exc:
            failure = str(exc)
        else:
            lags = sorted(lat["lags"])
            if lags:
                out.p50 = statistics.median(lags)
                out.p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            out.lost += lat["missing"]
            out.dup += lat["extra"]
    out.rss = workers.peak_rss or None
    out.pss = workers.peak_pss or None
    drain, lost, dup = tally(marks.lrange(key, 0, -1), plan.jobs)
    out.drain, out.lost, out.dup = drain, out.lost + lost, out.dup + dup
    if failure is not None:
        raise StepFailed(failure)


def _latency_args(key: str, plan: Plan) -> list[str]:
    return [
        "latency",
        "--key",
        f"{key}:lat",
        "--jobs",
        str(plan.latency_jobs),
        "--pause",
        str(plan.pause),
    ]


def _wait_drained(marks: redis.Redis, key: str, plan: Plan, workers: Workers, log: Path) -> None:
    """Until every job left its mark; raises StepFailed when progress stops."""
    deadline = time.monotonic() + plan.jobs / MIN_RATE + plan.stall
    seen, progress_at = 0, time.monotonic()
    while True:
        time.sleep(0.1)
        now = time.monotonic()
        count = marks.llen(key)
        if count >= plan.jobs and len(_starts(marks.lrange(key, 0, -1))) >= plan.jobs:
            return
        if count > seen:
            seen, progress_at = count, now
        exited = workers.exited()
        if exited and len(exited) == len(workers.procs):
            raise StepFailed(f"workers exited ({exited}) after {count} jobs: {_tail(log)}")
        if now - progress_at > plan.stall:
            raise StepFailed(
                f"drain stuck at {count}/{plan.jobs} marks for {now - progress_at:.0f}s "
                f"(log: {log})"
            )
        if now > deadline:
            raise StepFailed(f"drain too slow: {count}/{plan.jobs} marks by the deadline")


def _starts(values: Sequence[bytes | str]) -> dict[int, list[float]]:
    """seq -> start times of every run of that job, from marks "seq:started:enqueued"."""
    runs: dict[int, list[float]] = {}
    for value in values:
        text = value.decode() if isinstance(value, bytes) else value
        seq, started, _ = text.split(":")
        runs.setdefault(int(seq), []).append(float(started))
    return runs


def tally(values: Sequence[bytes | str], jobs: int) -> tuple[float | None, int, int]:
    """(drain throughput in jobs/s from first to last start, lost jobs, duplicated runs)."""
    runs = _starts(values)
    firsts = [min(times) for seq, times in runs.items() if 0 <= seq < jobs]
    lost = jobs - len(firsts)
    dup = sum(len(times) - 1 for times in runs.values())
    span = max(firsts) - min(firsts) if len(firsts) > 1 else 0.0
    rate = (len(firsts) - 1) / span if span > 0 and lost == 0 else None
    return rate, lost, dup


def _drive(c: Contender, env: dict[str, str], plan: Plan, args: list[str], timeout: float) -> Any:
    cmd = [sys.executable, "-m", "bench.drive", c.module, *args]
    code, stdout, stderr = run_bounded(cmd, env, plan.root, timeout)
    if code != 0:
        lines = stderr.strip().splitlines() or [f"exit code {code}"]
        raise StepFailed(f"{args[0]}: {lines[-1]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1][:200] if lines else "(empty log)"
