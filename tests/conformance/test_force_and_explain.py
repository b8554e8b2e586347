"""What forced cancel and `explain` need of every store: the force flag stored and reported
by heartbeats, its ending applied, the count of jobs ahead, and the tasks workers serve."""

from __future__ import annotations

import time

from backburner import policy
from backburner.job import JobStatus
from backburner.stores import Store, WorkerInfo

from .records import make

LEASE = 30.0


def test_a_forced_cancel_of_a_running_job_is_reported_with_its_grace(store: Store) -> None:
    store.enqueue([make(), make()])
    forced, plain = store.claim(None, "w", 2, LEASE)
    assert not store.cancel(forced.id, grace=2.5)
    assert not store.cancel(plain.id)
    reply = store.heartbeat("w", {forced.id: forced.token, plain.id: plain.token}, LEASE)
    assert reply.cancel_requested == {forced.id, plain.id}
    assert dict(reply.forced) == {forced.id: 2.5}
    got = store.get(forced.id)
    assert got is not None and got.cancel_requested and got.cancel_grace == 2.5


def test_a_later_cancel_without_grace_keeps_the_force_and_a_new_grace_replaces_it(
    store: Store,
) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    store.cancel(job.id, grace=5)
    store.cancel(job.id)
    assert dict(store.heartbeat("w", {job.id: job.token}, LEASE).forced) == {job.id: 5.0}
    store.cancel(job.id, grace=0.5)
    assert dict(store.heartbeat("w", {job.id: job.token}, LEASE).forced) == {job.id: 0.5}


def test_a_forced_cancel_of_a_pending_job_just_cancels_it(store: Store) -> None:
    queued, scheduled = make(), make(run_at=time.time() + 3600)
    store.enqueue([queued, scheduled])
    assert store.cancel(queued.id, grace=1) and store.cancel(scheduled.id, grace=1)
    for job_id in (queued.id, scheduled.id):
        got = store.get(job_id)
        assert got is not None and got.status is JobStatus.CANCELLED
        assert got.cancel_grace is None and got.attempts == 0
    assert store.claim(None, "w", 10, LEASE) == []


def test_the_forced_ending_cancels_the_job_counts_the_attempt_and_records_why(
    store: Store,
) -> None:
    store.enqueue([make(max_attempts=5)])
    [job] = store.claim(None, "w", 1, LEASE)
    store.cancel(job.id, grace=0.25)
    stale = policy.cancelled_by_force(job.id, job.token - 1, 0.25)
    assert store.end_attempts([stale]) == [None]
    ending = policy.cancelled_by_force(job.id, job.token, 0.25)
    assert store.end_attempts([ending]) == [JobStatus.CANCELLED]
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.CANCELLED
    assert got.attempts == 1 and got.finished_at == ending.at and got.lease_until is None
    assert got.error is not None
    assert got.error.startswith("ForcedCancel: cancelled by force after 0.25 s grace")
    assert [(f.attempt, f.error) for f in got.failures] == [(1, got.error)]
    assert store.claim(None, "w", 1, LEASE) == [], "a cancelled job is never retried"


def test_a_retried_job_is_no_longer_cancelled_by_force(store: Store) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    store.cancel(job.id, grace=1)
    store.end_attempts([policy.cancelled_by_force(job.id, job.token, 1)])
    assert store.retry(job.id)
    [again] = store.claim(None, "w", 1, LEASE)
    assert not again.cancel_requested and again.cancel_grace is None
    reply = store.heartbeat("w", {again.id: again.token}, LEASE)
    assert reply.cancel_requested == frozenset() and dict(reply.forced) == {}


def test_count_ahead_follows_claim_order_within_the_job_queue(store: Store) -> None:
    now = time.time()
    early = make("early", run_at=now - 10)
    urgent = make("urgent", priority=5)
    mine = make("mine", run_at=now - 5)
    same_time = make("same_time", run_at=now - 5)  # enqueued after mine: behind it
    later = make("later", run_at=now - 1)
    elsewhere = make("elsewhere", queue="other", priority=9, run_at=now - 20)
    future = make("future", priority=9, run_at=now + 3600)
    store.enqueue([early, urgent, mine, same_time, later, elsewhere, future])
    assert store.count_ahead(mine.id, 100) == 2  # urgent (priority) and early (run_at)
    assert store.count_ahead(urgent.id, 100) == 0
    assert store.count_ahead(later.id, 100) == 4
    assert store.count_ahead(later.id, 3) == 3, "counted up to the limit"
    assert store.count_ahead(elsewhere.id, 100) == 0
    [claimed] = store.claim(["default"], "w", 1, LEASE)
    assert claimed.id == urgent.id
    assert store.count_ahead(mine.id, 100) == 1, "a running job is not ahead"
    assert store.count_ahead(urgent.id, 100) == 0, "not pending"
    assert store.count_ahead("no-such-job", 100) == 0


def test_count_ahead_counts_scheduled_jobs_that_fell_due(store: Store) -> None:
    soon = make("soon", priority=1, run_at=time.time() + 0.2)
    mine = make("mine")
    store.enqueue([soon, mine])
    assert store.count_ahead(mine.id, 100) == 0
    time.sleep(0.3)  # `soon` falls due with no claim in between (Redis promotes at claims)
    assert store.count_ahead(mine.id, 100) == 1


def test_workers_record_the_tasks_they_serve(store: Store) -> None:
    now = time.time()
    info = WorkerInfo("w1", "host", 10, now, now, ("default",), (), ("a.add", "b.send"))
    store.record_worker(info)
    [got] = store.list_workers(alive_since=now - 60)
    assert got.tasks == ("a.add", "b.send") and got == info
