"""Concurrency and rate limits and paused queues with real worker processes, on every
store that processes can share (memory:// lives inside one process)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backburner import Backburner, JobStatus
from backburner.job import JobRecord

from . import limitsapp
from .helpers import (
    SERVER_STORES,
    Start,
    WorkerProcess,
    child_pids,
    server_store_url,
    wait_until,
    worker_processes,
)

APP = "limitsapp:bb"


@pytest.fixture(params=SERVER_STORES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return server_store_url(request, tmp_path)


@pytest.fixture
def bb(url: str) -> Iterator[Backburner]:
    app = limitsapp.build(url)
    yield app
    app.close()


@pytest.fixture
def start(tmp_path: Path, url: str) -> Iterator[Callable[..., WorkerProcess]]:
    with worker_processes(tmp_path) as start:
        yield lambda *args: start(url, *args, app=APP)


def finished(bb: Backburner, jobs: list[str]) -> bool:
    return all(_record(bb, j).status is JobStatus.SUCCEEDED for j in jobs)


def _record(bb: Backburner, job_id: str) -> JobRecord:
    record = bb.store.get(job_id)
    assert record is not None
    return record


class Sampler:
    """Samples, in a thread, how many jobs of a task the store has running."""

    def __init__(self, bb: Backburner, task: str, key: str) -> None:
        self.peak = 0
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.is_set():
                running = bb.store.list_jobs(status=JobStatus.RUNNING, task=task, limit=100)
                holders = bb.store.concurrency_holders(key)
                self.peak = max(self.peak, len(running), len(holders))
                time.sleep(0.005)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(10)
        return self.peak


def test_four_processes_of_four_threads_never_run_more_than_the_slots(
    bb: Backburner, start: Start, tmp_path: Path
) -> None:
    folder = str(tmp_path / "inside")
    jobs = [bb.tasks["slot"].delay(folder, 0.03).id for _ in range(60)]
    sampler = Sampler(bb, "slot", "slot")
    start("-p", "4", "--threads", "4")
    wait_until(lambda: finished(bb, jobs), timeout=90, interval=0.1)
    assert sampler.stop() <= limitsapp.SLOTS
    seen = [bb.get_job(j).result for j in jobs]  # type: ignore[union-attr]
    assert max(seen) <= limitsapp.SLOTS
    assert max(seen) >= 2, "the jobs never ran side by side"


def test_each_key_runs_one_job_at_a_time_while_keys_run_side_by_side(
    bb: Backburner, start: Start, tmp_path: Path
) -> None:
    folder = str(tmp_path / "inside")
    jobs = [bb.tasks["keyed"].delay(folder, user, 0.05).id for user in ("a", "b") * 8]
    start("-p", "2", "--threads", "3")
    wait_until(lambda: finished(bb, jobs), timeout=90, interval=0.1)
    assert {bb.get_job(j).result for j in jobs} == {1}  # type: ignore[union-attr]


def test_a_rate_of_20_per_second_holds_over_5_seconds(bb: Backburner, start: Start) -> None:
    jobs = [bb.tasks["rated"].delay().id for _ in range(130)]
    start("-p", "2", "--threads", "2")
    wait_until(lambda: finished(bb, jobs[:101]), timeout=60, interval=0.1)
    starts = sorted(_record(bb, j).started_at or 0.0 for j in jobs if _record(bb, j).started_at)
    first = starts[0]
    in_5s = [t for t in starts if t < first + 5.0]
    assert 99 <= len(in_5s) <= 100, f"{len(in_5s)} starts in the first 5 s at 20/s"
    for t in starts:  # no one-second window anywhere holds more than 20
        assert len([u for u in starts if t <= u < t + 1.0]) <= 20


def test_a_dead_workers_slot_frees_once_its_lease_lapses(
    bb: Backburner, start: Start, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    hung = bb.tasks["mutex"].delay(str(first), True)
    dead = start("-p", "1", "--lease", "2")
    wait_until(first.exists, timeout=30)
    waiting = bb.tasks["mutex"].delay(str(second), False)
    dead.kill_group()  # the hung attempt keeps its slot until its lease lapses
    lease_until = _record(bb, hung.id).lease_until
    assert lease_until is not None
    start("-p", "1", "--lease", "2")
    wait_until(lambda: finished(bb, [hung.id, waiting.id]), timeout=60, interval=0.1)
    assert (_record(bb, waiting.id).started_at or 0) >= lease_until
    assert _record(bb, hung.id).attempts == 2


def test_jobs_of_another_task_are_not_held_up_behind_a_saturated_one(
    bb: Backburner, start: Start
) -> None:
    mutexed = [bb.tasks["slow_mutex"].delay(0.3).id for _ in range(40)]  # 12 s one at a time
    free = [bb.tasks["free"].delay().id for _ in range(20)]
    start("-p", "1", "--threads", "2")
    wait_until(lambda: finished(bb, free), timeout=30, interval=0.05)
    queued = [j for j in mutexed if _record(bb, j).status is JobStatus.QUEUED]
    assert len(queued) >= 20, "the free jobs waited behind the mutexed ones"


def test_a_paused_queue_waits_for_resume_and_then_runs_promptly(
    bb: Backburner, start: Start
) -> None:
    bb.pause("default")
    held = bb.tasks["free"].delay()
    start("-p", "1")
    other = bb.tasks["free"].options(queue="other").delay()
    worker_alive = bb.tasks["free"].options(queue="other").delay()
    wait_until(lambda: finished(bb, [other.id, worker_alive.id]), timeout=30)
    assert _record(bb, held.id).status is JobStatus.QUEUED
    resumed = time.time()
    bb.resume("default")
    wait_until(lambda: finished(bb, [held.id]), timeout=10, interval=0.02)
    assert (_record(bb, held.id).started_at or 0) - resumed < 2.0


def test_a_worker_whose_due_jobs_are_all_over_their_limit_sleeps(
    bb: Backburner, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    bb.tasks["mutex"].delay(str(marker), True)  # holds the only slot
    for _ in range(20):
        bb.tasks["mutex"].delay(str(tmp_path / "x"), False)
    worker = start("-p", "2", "--threads", "2")
    wait_until(marker.exists, timeout=30)
    time.sleep(0.5)  # past start-up
    before = _cpu(worker.pid)
    began = time.monotonic()
    wait_until(lambda: time.monotonic() - began >= 3.0, timeout=10, interval=0.2)
    used = (_cpu(worker.pid) - before) / (time.monotonic() - began)
    assert used < 0.25, f"the worker used {used:.0%} of a core waiting for a slot"


def _cpu(pid: int) -> float:
    """User and system CPU seconds of `pid` and its children, from /proc."""
    total = 0.0
    for task in (pid, *child_pids(pid)):
        try:
            fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # it exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total
