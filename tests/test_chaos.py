"""Chaos: real workers SIGKILLed and SIGTERMed at random, store servers crashed and
restarted, a producer enqueueing through it all; then the sink and the store must agree
that no acknowledged job was lost and that every extra run is explained.

Skipped unless `pytest --chaos` (`make test` passes it); `--chaos-seed N` replays a run.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backburner import Backburner, StoreUnavailable

from . import chaosapp
from .chaos import (
    SUMMARIES,
    Pool,
    Producer,
    active_jobs,
    hand_backs,
    inject_worker_fault,
    judge,
    read_sink,
    summary,
)
from .helpers import wait_until, worker_processes
from .servers import require
from .servers.postgres import Cluster, ClusterError, with_option
from .servers.redis import RedisServer

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

JOBS = 4000
FAULT_SECONDS = 45.0  # faults and enqueues; the drain and the checks take the rest
DRAIN_SECONDS = 90.0  # a deadline, not a wait: the drain usually takes a few seconds
SUPERVISORS = 2
# A short lease, so jobs of a killed supervisor come back within the run; a short grace,
# so a SIGTERM hands back the long jobs it finds running.
WORKER_ARGS = ("-p", "2", "--threads", "2", "--lease", "2", "--shutdown-timeout", "0.5")


@dataclass
class Target:
    """A store under test: its URL, and how to crash and restart its server (if any)."""

    url: str
    crash: Callable[[], object] | None = None
    restart: Callable[[], object] | None = None


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """The store named by the test's parameter, on a server of its own; killed by PID."""
    kind: str = request.param
    if kind == "sqlite":
        yield Target(f"sqlite:///{tmp_path}/chaos.db")
    elif kind == "redis":
        if shutil.which("redis-server") is None:
            require("redis-server", "not on PATH; the chaos test crashes its own server")
        # appendfsync always: a write Redis acknowledged survives its SIGKILL
        durable = ("--appendonly", "yes", "--appendfsync", "always")
        server = RedisServer(tmp_path / "redis", None, *durable, "--maxmemory-policy", "noeviction")
        try:
            server.start()
            yield Target(server.url + "?prefix=chaos", server.kill, server.start)
        finally:
            server.kill()
    else:
        try:
            cluster = Cluster()
        except ClusterError as exc:
            require("initdb/pg_ctl", f"the chaos test crashes its own cluster: {exc}")
            return
        try:
            cluster.start()
            yield Target(with_option(cluster.url, "schema=chaos"), cluster.kill, cluster.start)
        finally:
            cluster.stop()


@pytest.mark.parametrize("target", ["sqlite", "redis", "postgres"], indirect=True)
def test_no_acknowledged_job_is_lost_and_every_rerun_is_explained(
    target: Target,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    began = time.monotonic()
    store = request.node.callspec.id
    seed = request.config.getoption("--chaos-seed")
    seed = random.randrange(2**32) if seed is None else seed
    print(f"chaos {store}: seed {seed} (replay with --chaos-seed {seed})")
    rng = random.Random(seed)
    sink = tmp_path / "sink"
    sink.mkdir()
    monkeypatch.setenv(chaosapp.SINK_ENV, str(sink))  # the workers inherit it
    bb = chaosapp.build(target.url)
    faults: Counter[str] = Counter()
    producer = Producer(bb, JOBS, FAULT_SECONDS * 0.9, seed + 1)
    with worker_processes(tmp_path) as start:
        pool = Pool(start, target.url, SUPERVISORS, WORKER_ARGS)
        try:
            pool.fill()
            producer.start()
            _inject_faults(target, pool, rng, faults)
            pool.fill()  # the drain runs on a full pool
            producer.join(timeout=60)
            assert not producer.is_alive(), "the producer did not finish its enqueues"
            wait_until(lambda: _drained(bb), timeout=DRAIN_SECONDS, interval=0.2)
        finally:
            producer.halt.set()
    # every worker is killed now: the sink is complete
    records = {job_id: bb.store.get(job_id) for job_id in {*producer.acked, *_ran(sink)}}
    bb.close()
    runs = read_sink(sink)
    verdict = judge(producer.acked, records, runs, hand_backs(tmp_path.glob("worker*.log")))
    line = summary(store, seed, verdict, faults, producer, time.monotonic() - began)
    request.config.stash.setdefault(SUMMARIES, []).append(line)
    print(line)
    assert not producer.errors, producer.errors[:5]
    assert not pool.died, pool.died
    assert verdict.problems() == {}, f"{line}\nseed {seed}"
    assert faults.total() >= 20 and verdict.jobs == JOBS  # the run really was a chaos run


def _inject_faults(target: Target, pool: Pool, rng: random.Random, faults: Counter[str]) -> None:
    """Faults at random for FAULT_SECONDS: a worker fault every 0.2-1 s, and, on a store
    with a server, a crash every 4-8 s with 0.2-1.5 s of downtime."""
    end = time.monotonic() + FAULT_SECONDS
    next_crash = time.monotonic() + rng.uniform(2, 6)
    crashes = target.crash is not None and target.restart is not None
    while time.monotonic() < end:
        time.sleep(rng.uniform(0.2, 1.0))  # the scenario's pace, not a synchronisation
        pool.fill()
        if crashes and time.monotonic() > next_crash:
            assert target.crash is not None and target.restart is not None
            target.crash()
            faults["server SIGKILL"] += 1
            time.sleep(rng.uniform(0.2, 1.5))  # the outage
            target.restart()
            next_crash = time.monotonic() + rng.uniform(4, 8)
        else:
            inject_worker_fault(pool, rng, faults)


def _drained(bb: Backburner) -> bool:
    """True once no job is scheduled, queued or running."""
    try:
        return active_jobs(bb) == 0
    except StoreUnavailable:
        return False


def _ran(sink: Path) -> set[str]:
    return {run.job_id for run in read_sink(sink)}
