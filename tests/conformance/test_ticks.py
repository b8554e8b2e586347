"""Periodic ticks: a tick and its job are stored together, once, on every store."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from dataclasses import replace
from typing import Any

from backburner.job import JobStatus
from backburner.stores import Store, open_store
from backburner.stores.base import Tick

from .records import make

T0 = 1_700_000_000.0  # in the past: the jobs are due


def tick(at: float, job_id: str | None = None, **fields: Any) -> Tick:
    values: dict[str, Any] = {
        "schedule": "s",
        "definition": "every:60.0",
        "generation": 1.0,
        "enqueued": job_id is not None,
        "recorded_at": at,
    }
    values.update(fields)
    return Tick(at=at, job_id=job_id, **values)


def periodic_job(at: float, **fields: Any) -> Any:
    return make("report", run_at=at, schedule="s", scheduled_for=at, **fields)


def test_a_tick_is_stored_with_its_job_once(store: Store) -> None:
    first = periodic_job(T0)
    assert store.enqueue_tick(tick(T0, first.id), first)
    second = periodic_job(T0)
    assert not store.enqueue_tick(tick(T0, second.id), second), "the same tick again"
    assert store.get(second.id) is None, "the loser's job is not stored"
    stored = store.get(first.id)
    assert stored is not None and stored.status is JobStatus.QUEUED
    assert stored.schedule == "s" and stored.scheduled_for == T0 and stored.run_at == T0
    assert store.last_ticks(["s"]) == {"s": tick(T0, first.id)}
    assert [r.id for r in store.claim(None, "w", 10, 30)] == [first.id]


def test_last_ticks_gives_each_schedules_latest_with_exact_times(store: Store) -> None:
    at = T0 + 0.123456789
    job = periodic_job(at)
    assert store.enqueue_tick(tick(T0 - 60, None, enqueued=False, missed=3), None)
    assert store.enqueue_tick(tick(at, job.id, generation=T0 + 0.5), job)
    assert store.enqueue_tick(tick(T0, None, schedule="other", enqueued=False), None)
    found = store.last_ticks(["s", "other", "never"])
    assert found["s"] == tick(at, job.id, generation=T0 + 0.5)
    assert found["other"].schedule == "other" and found["other"].job_id is None
    assert "never" not in found
    assert store.last_ticks([]) == {}


def test_a_skipped_tick_stores_no_job_and_keeps_the_job_it_names(store: Store) -> None:
    job = periodic_job(T0)
    assert store.enqueue_tick(tick(T0, job.id), job)
    skipped = tick(T0 + 60, job.id, enqueued=False, missed=1)
    assert store.enqueue_tick(skipped, None)
    assert store.last_ticks(["s"])["s"] == skipped
    assert len(store.list_jobs()) == 1


def test_a_newer_definition_takes_the_schedule_over(store: Store) -> None:
    old = dict(definition="every:60.0", generation=1.0)
    new = dict(definition="every:90.0", generation=2.0)
    assert store.enqueue_tick(tick(T0, None, enqueued=False, **old), None)
    assert store.enqueue_tick(tick(T0 + 90, None, enqueued=False, **new), None)
    job = periodic_job(T0 + 120)
    assert not store.enqueue_tick(tick(T0 + 120, job.id, **old), job), "stale definition"
    assert store.get(job.id) is None
    assert store.enqueue_tick(tick(T0 + 180, None, enqueued=False, **new), None)
    # the same definition from an older worker still ticks (a plain restart of others)
    assert store.enqueue_tick(tick(T0 + 270, None, enqueued=False, definition="every:90.0"), None)
    # a rollback deploy, newer still, takes it back
    assert store.enqueue_tick(tick(T0 + 300, None, enqueued=False, generation=3.0), None)


def test_a_tick_job_deduplicated_by_unique_key_names_the_live_job(store: Store) -> None:
    [live] = store.enqueue([make("report", unique_key="k")])
    job = periodic_job(T0, unique_key="k")
    assert store.enqueue_tick(tick(T0, job.id), job)
    assert store.get(job.id) is None
    assert store.last_ticks(["s"])["s"].job_id == live


def test_pruning_keeps_each_schedules_latest_tick(store: Store) -> None:
    for n in range(5):
        assert store.enqueue_tick(tick(T0 + n, None, enqueued=False), None)
    assert store.enqueue_tick(tick(T0 - 100, None, enqueued=False, schedule="old"), None)
    assert store.prune_ticks(T0 + 3) == 3
    assert store.prune_ticks(T0 + 1000) == 1
    assert store.last_ticks(["s", "old"]) == {
        "s": tick(T0 + 4, None, enqueued=False),
        "old": tick(T0 - 100, None, enqueued=False, schedule="old"),
    }
    assert store.prune_ticks(T0 + 1000) == 0


def test_a_tick_and_its_job_are_stored_both_or_neither(store: Store) -> None:
    job = replace(periodic_job(T0), priority=2**70)  # past most stores' integer range
    try:
        stored = store.enqueue_tick(tick(T0, job.id), job)
    except Exception:  # refused: whatever the store says, nothing was written
        assert store.last_ticks(["s"]) == {} and store.list_jobs() == []
    else:
        assert stored and store.get(job.id) is not None and "s" in store.last_ticks(["s"])


# -- a real race ---------------------------------------------------------------------------
PROCESSES = 4
TICKS = 100


def _ticker(url: str, index: int, start: Any, out: Any) -> None:
    store = open_store(url)
    start.wait()
    won = []
    for n in range(TICKS):
        job = periodic_job(T0 + n, queue=f"p{index}")
        if store.enqueue_tick(tick(T0 + n, job.id, generation=float(index)), job):
            won.append(n)
    out.put(won)
    store.close()


def test_racing_processes_store_each_tick_and_its_job_exactly_once(shared_url: str) -> None:
    ctx = mp.get_context("fork")
    start = ctx.Barrier(PROCESSES)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_ticker, args=(shared_url, i, start, out)) for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results: list[list[int]] = []
    deadline = time.monotonic() + 120
    while len(results) < PROCESSES:
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            assert all(p.exitcode in (None, 0) for p in procs), "a ticker died"
            assert time.monotonic() < deadline
    for p in procs:
        p.join(timeout=30)
    won = sorted(n for batch in results for n in batch)
    assert won == list(range(TICKS)), "each tick stored exactly once"
    store = open_store(shared_url)
    jobs = store.list_jobs(limit=10 * TICKS)
    assert sorted(j.scheduled_for or 0 for j in jobs) == [T0 + n for n in range(TICKS)]
    assert store.last_ticks(["s"])["s"].at == T0 + TICKS - 1
    store.close()
