"""Periodic jobs with real worker processes: three supervisors on one store, for SQLite,
Redis and PostgreSQL at once, store exactly one job per tick; after a downtime each
misfire policy holds; a schedule removed from the code stops ticking."""

from __future__ import annotations

import math
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner.job import JobRecord
from backburner.stores import Store, open_store
from backburner.stores.base import WorkerInfo

from .helpers import Start, WorkerProcess, wait_until, worker_processes
from .periodicapp import MISFIRE_EVERY

WORKERS = 3
WINDOW = 21  # seconds of a 1 s schedule with every worker up: >= 20 ticks
DOWNTIME = 3.0  # >= 5 ticks of the misfire schedules


@pytest.fixture
def urls(tmp_path: Path, redis_store_url: str, postgres_store_url: str) -> dict[str, str]:
    return {
        "sqlite": f"sqlite:///{tmp_path}/jobs.db",
        "redis": redis_store_url,
        "postgres": postgres_store_url,
    }


@pytest.fixture
def stores(urls: dict[str, str]) -> Iterator[dict[str, Store]]:
    opened = {name: open_store(url) for name, url in urls.items()}
    for store in opened.values():
        store.migrate()
    yield opened
    for store in opened.values():
        store.close()


def _jobs(store: Store) -> dict[str, list[JobRecord]]:
    """Every periodic job of the store by schedule, oldest tick first."""
    found: dict[str, list[JobRecord]] = {}
    for record in store.list_jobs(limit=100_000):
        if record.schedule is not None:
            found.setdefault(record.schedule, []).append(record)
    for records in found.values():
        records.sort(key=lambda r: r.scheduled_for or 0)
    return found


def _ticks(every: float, after: float, before: float) -> list[float]:
    """The ticks of `every=` strictly between `after` and `before`."""
    first = math.floor(after / every) + 1
    return [n * every for n in range(first, math.ceil(before / every)) if n * every < before]


def _start_generation(
    start: Start, urls: dict[str, str], stores: dict[str, Store]
) -> tuple[list[WorkerProcess], dict[str, list[WorkerInfo]]]:
    """Start WORKERS supervisors per store and wait until all are up; returns them and
    each store's live workers."""
    workers = [
        start(url, "--processes", "1", "--queues", "idle", app="periodicapp:bb")
        for url in urls.values()
        for _ in range(WORKERS)
    ]
    return workers, {name: _all_live_n(store, WORKERS) for name, store in stores.items()}


def _all_live_n(store: Store, count: int) -> list[WorkerInfo]:
    """The store's live workers, once there are `count`."""

    def live() -> list[WorkerInfo]:
        return store.list_workers(alive_since=time.time() - 60)

    wait_until(lambda: len(live()) == count, timeout=60)
    return live()


def _stop(workers: list[WorkerProcess]) -> None:
    for w in workers:
        w.signal(signal.SIGTERM)
    for w in workers:
        assert w.wait(timeout=30) == 0, w.log()


@pytest.mark.slow
def test_three_workers_per_store_one_job_per_tick_then_downtime_and_a_new_generation(
    tmp_path: Path,
    urls: dict[str, str],
    stores: dict[str, Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with worker_processes(tmp_path) as start:
        # generation 1: three supervisors per store, all at once
        monkeypatch.setenv("PERIODIC_GEN", "1")
        first, live = _start_generation(start, urls, stores)
        window_start = max(w.started_at for infos in live.values() for w in infos)
        window_end = window_start + WINDOW
        wait_until(lambda: time.time() > window_end + 0.5, timeout=WINDOW + 30)
        _stop(first)
        stopped = time.time()
        last = {name: _jobs(store) for name, store in stores.items()}
        wait_until(lambda: time.time() > stopped + DOWNTIME, timeout=DOWNTIME + 5)
        # generation 2: "removed" is gone from the code
        monkeypatch.setenv("PERIODIC_GEN", "2")
        second, live = _start_generation(start, urls, stores)
        restarted = {name: min(w.started_at for w in infos) for name, infos in live.items()}
        settled = max(w.started_at for infos in live.values() for w in infos) + 2
        wait_until(lambda: time.time() > settled, timeout=30)
        _stop(second)
    for name, store in stores.items():
        jobs = _jobs(store)
        for schedule, records in jobs.items():
            counts = Counter(r.scheduled_for for r in records)
            assert max(counts.values()) == 1, f"{name} {schedule}: a tick doubled"
            assert all(r.run_at == r.scheduled_for for r in records)
        # exactly one job per tick while the three workers ran
        for schedule, every in (("tick", 1.0), ("pair-a", 1.0), ("pair-b", 2.0)):
            seen = [r.scheduled_for for r in jobs[schedule]]
            expected = _ticks(every, window_start, window_end)
            assert len(expected) >= 20 / every
            assert [t for t in seen if window_start < (t or 0) < window_end] == expected, (
                f"{name} {schedule}"
            )
        assert {r.task for r in jobs["pair-a"] + jobs["pair-b"]} == {"pair"}
        # the removed schedule made no job after generation 1 stopped
        assert jobs["removed"] == last[name]["removed"] and jobs["removed"], name
        _check_misfires(name, jobs, last[name], restarted[name])


def _check_misfires(
    name: str,
    jobs: dict[str, list[JobRecord]],
    before: dict[str, list[JobRecord]],
    restarted: float,
) -> None:
    """The ticks between the last job before the downtime and the first supervisor of the
    new generation were missed: each policy's jobs for them."""
    for policy in ("latest", "skip", "all"):
        schedule = f"m-{policy}"
        previous = max(r.scheduled_for or 0 for r in before[schedule])
        missed = _ticks(MISFIRE_EVERY, previous, restarted)
        assert len(missed) >= 5, f"{name}: the downtime was too short to tell"
        ran = [
            r.scheduled_for for r in jobs[schedule] if previous < (r.scheduled_for or 0) < restarted
        ]
        expected = {"latest": missed[-1:], "skip": [], "all": missed}[policy]
        assert ran == expected, f"{name} {schedule}"
        after = [r.scheduled_for for r in jobs[schedule] if (r.scheduled_for or 0) >= restarted]
        assert after and after == _ticks(
            MISFIRE_EVERY, restarted - 1e-6, (after[-1] or 0) + 1e-6
        ), f"{name} {schedule}: every tick after the restart"


@pytest.mark.slow
def test_a_worker_started_with_no_periodic_stores_no_tick(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    store = open_store(url)
    with worker_processes(tmp_path) as start:
        worker = start(
            url, "--processes", "1", "--queues", "idle", "--no-periodic", app="periodicapp:bb"
        )
        [info] = _all_live_n(store, 1)
        wait_until(lambda: time.time() > info.started_at + 2.5, timeout=30)  # two 1 s ticks
        _stop([worker])
    assert store.last_ticks(["tick", "m-all"]) == {} and store.list_jobs() == []
    store.close()
