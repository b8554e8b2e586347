"""Store.stats: the monitoring gauges, checked on every backend."""

from __future__ import annotations

import time

import pytest

from backburner.job import JobStatus
from backburner.stores import Store, WorkerInfo
from backburner.stores.base import Done

from .records import make

LEASE = 30.0


def test_stats_of_an_empty_store_are_empty(store: Store) -> None:
    stats = store.stats(time.time(), 0.0)
    assert (stats.jobs, stats.oldest_due, stats.workers) == ({}, {}, 0)


def test_stats_count_pending_jobs_per_queue_and_status(store: Store) -> None:
    now = time.time()
    store.enqueue([make(queue="a") for _ in range(3)])
    store.enqueue([make(queue="a", run_at=now + 3600) for _ in range(2)])
    store.enqueue([make(queue="b", priority=p) for p in (0, 5)])
    [claimed] = store.claim(["b"], "w1", 1, LEASE)
    stats = store.stats(time.time(), 0.0)
    assert stats.jobs == {
        "a": {JobStatus.QUEUED: 3, JobStatus.SCHEDULED: 2},
        "b": {JobStatus.QUEUED: 1, JobStatus.RUNNING: 1},
    }
    store.complete(claimed.id, claimed.token, None)
    assert store.stats(time.time(), 0.0).jobs["b"] == {JobStatus.QUEUED: 1}


def test_finished_jobs_are_not_counted(store: Store) -> None:
    store.enqueue([make(queue="a") for _ in range(2)])
    claimed = store.claim(None, "w1", 2, LEASE)
    store.complete_and_claim([Done(r.id, r.token, None) for r in claimed], None, "w1", 0, LEASE)
    assert store.stats(time.time(), 0.0).jobs == {}


def test_oldest_due_is_the_earliest_run_at_of_a_due_queued_job(store: Store) -> None:
    now = time.time()
    store.enqueue(
        [
            make(queue="a", run_at=now - 50, priority=9),
            make(queue="a", run_at=now - 70),  # lower priority, but waiting longest
            make(queue="a", run_at=now - 10, priority=3),
            make(queue="a", run_at=now + 100),  # not due: not waiting yet
            make(queue="b", run_at=now + 100),
        ]
    )
    stats = store.stats(now, 0.0)
    assert stats.oldest_due["a"] == pytest.approx(now - 70)
    assert "b" not in stats.oldest_due
    later = store.stats(now + 200, 0.0)  # the scheduled jobs are due by then
    assert later.oldest_due["b"] == pytest.approx(now + 100)
    assert later.jobs["b"] == {JobStatus.QUEUED: 1}


def test_a_running_job_is_not_waiting(store: Store) -> None:
    now = time.time()
    store.enqueue([make(queue="a", run_at=now - 60)])
    store.claim(None, "w1", 1, LEASE)
    assert store.stats(time.time(), 0.0).oldest_due == {}


def test_stats_count_workers_alive_since(store: Store) -> None:
    now = time.time()
    for name, beat in (("w1", now), ("w2", now - 5), ("w3", now - 100)):
        store.record_worker(WorkerInfo(name, "host", 1, now - 200, beat))
    assert store.stats(now, now - 10).workers == 2
    assert store.stats(now, now - 1000).workers == 3


def test_stats_count_jobs_waiting_for_their_dependencies(store: Store) -> None:
    first = make(queue="a")
    store.enqueue([first])
    store.enqueue([make(queue="c", depends_on=(first.id,)) for _ in range(2)])
    assert store.stats(time.time(), 0.0).jobs == {
        "a": {JobStatus.QUEUED: 1},
        "c": {JobStatus.WAITING: 2},
    }
    [claimed] = store.claim(["a"], "w1", 1, LEASE)
    store.complete(claimed.id, claimed.token, None)
    assert store.stats(time.time(), 0.0).jobs == {"c": {JobStatus.QUEUED: 2}}
