"""Redis direct hand-off: an enqueue gives its job, leased, to a worker blocked waiting.

The enqueue script hands a job over only when it would be that worker's next claim
anyway (its queue unpaused, the job due and without limits, nothing due ahead of it in
its queue, nothing made due since the worker looked), and the job is claimed in the
same script: running, attempt 1, a fresh token and a lease. A worker that dies holding
it loses nothing: its lease lapses and it is rescued, as after any claim.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from backburner import policy
from backburner.errors import StoreUnavailable
from backburner.job import JobRecord, JobStatus
from backburner.stores import Store, open_store
from backburner.stores.base import Done

from .conformance.records import make
from .helpers import wait_until

LEASE = 30.0


@pytest.fixture
def producer(redis_store_url: str) -> Iterator[Store]:
    s = open_store(redis_store_url)
    yield s
    s.close()


@pytest.fixture
def worker(redis_store_url: str) -> Iterator[Store]:
    s = open_store(redis_store_url)
    yield s
    s.close()


class Waiter:
    """A worker thread: claims (finding nothing), waits for work once, then, told to go,
    claims again. A hand-off belongs to the thread that waited, so it claims too."""

    def __init__(self, store: Store, queues: Sequence[str] | None, timeout: float = 10.0):
        self.store, self.queues, self.timeout = store, queues, timeout
        self.waiting, self.woken, self.go = (threading.Event() for _ in range(3))
        self.claimed: list[JobRecord] | None = None
        self.handed_over = False  # what the store said once the wait ended
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.store.complete_and_claim([], self.queues, "w1", 1, LEASE)
        self.waiting.set()
        self.store.wait_for_work(self.queues, self.timeout)
        self.handed_over = self.store.handed_over()
        self.woken.set()
        self.go.wait(15)
        _, self.claimed = self.store.complete_and_claim([], self.queues, "w1", 5, LEASE)

    def __enter__(self) -> Waiter:
        self.thread.start()
        assert self.waiting.wait(5)
        time.sleep(0.2)  # the thread is in BLPOP by now (an early enqueue only wakes it)
        return self

    def __exit__(self, *exc: object) -> None:
        self.go.set()
        if self.thread.ident is not None:
            self.thread.join(15)

    def done(self) -> None:
        """Until the thread stopped waiting."""
        assert self.woken.wait(15)

    def claim(self) -> list[JobRecord]:
        """The thread's claim the first time, then claims from this thread."""
        if self.thread.is_alive() or self.claimed is not None:
            self.go.set()
            self.thread.join(15)
            assert self.claimed is not None
            claimed, self.claimed = self.claimed, None
            self.thread = threading.Thread()  # used up
            return claimed
        _, claimed = self.store.complete_and_claim([], self.queues, "w1", 5, LEASE)
        return claimed


def test_a_waiting_worker_is_handed_the_job_leased(producer: Store, worker: Store) -> None:
    with Waiter(worker, None) as waiter:
        job = make(queue="q")
        producer.enqueue([job])
        waiter.done()  # woken by the hand-off, well before its 10 s
    stored = producer.get(job.id)
    assert stored is not None and stored.status is JobStatus.RUNNING
    assert (stored.worker_id, stored.attempts, stored.token) == ("w1", 1, 1)
    assert stored.lease_until is not None and stored.lease_until > time.time() + LEASE / 2
    assert waiter.handed_over  # a worker stopping now claims it, to hand it back
    [got] = waiter.claim()
    assert (got.id, got.token, got.attempts, got.status) == (job.id, 1, 1, JobStatus.RUNNING)
    assert not worker.handed_over()
    assert worker.complete(got.id, got.token, None)
    assert waiter.claim() == []


def test_a_worker_killed_after_the_hand_off_loses_nothing(redis_store_url: str) -> None:
    """The job was leased to the worker in the enqueue: when it dies holding it, its lease
    lapses, and the rescue makes it due again for another worker."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from backburner.stores import open_store
        s = open_store({redis_store_url!r})
        s.complete_and_claim([], ["q"], "doomed", 1, 0.5)
        print("waiting", flush=True)
        s.wait_for_work(["q"], 20)
        print("woken", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    producer = open_store(redis_store_url)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(0.3)
        job = make(queue="q", max_attempts=3)
        producer.enqueue([job])
        assert child.stdout.readline().strip() == "woken"
        child.kill()
        child.wait(10)
        held = producer.get(job.id)
        assert held is not None and held.status is JobStatus.RUNNING
        assert held.worker_id == "doomed"
        [lapsed] = wait_until(lambda: producer.lapsed(time.time(), 10))
        assert lapsed.id == job.id
        assert producer.end_attempts([policy.after_lapse(lapsed, time.time())]) == [
            JobStatus.QUEUED
        ]
        again = wait_until(lambda: producer.claim(["q"], "w2", 1, LEASE), timeout=15)
        assert [r.id for r in again] == [job.id] and again[0].attempts == 2
    finally:
        child.kill()
        child.wait(10)
        producer.close()


def test_no_hand_off_from_a_paused_queue(producer: Store, worker: Store) -> None:
    producer.pause("q")
    with Waiter(worker, ["q"], timeout=1.0) as waiter:
        job = make(queue="q")
        producer.enqueue([job])
        waiter.done()
        stored = producer.get(job.id)
        assert stored is not None and stored.status is JobStatus.QUEUED
        assert not waiter.handed_over
        assert waiter.claim() == []
        producer.resume("q")
        assert [r.id for r in waiter.claim()] == [job.id]


@pytest.mark.parametrize(
    "limits",
    [{"concurrency": 1, "concurrency_key": "k"}, {"rate_limit": 5, "rate_period": 1.0}],
    ids=["concurrency", "rate"],
)
def test_no_hand_off_of_a_job_with_limits(
    producer: Store, worker: Store, limits: dict[str, Any]
) -> None:
    if "rate_limit" in limits:
        limits = {**limits, "rate_key": "r"}
    with Waiter(worker, ["q"], timeout=1.0) as waiter:
        job = make(queue="q", **limits)
        producer.enqueue([job])
        waiter.done()
        stored = producer.get(job.id)
        assert stored is not None and stored.status is JobStatus.QUEUED  # the claim takes slots
        assert [r.id for r in waiter.claim()] == [job.id]


def test_no_hand_off_past_a_due_job_ahead(producer: Store, worker: Store) -> None:
    """A job waiting for a slot is ahead in the queue: the one enqueued after it is not
    handed over, and once the slot frees, claims take them in their order."""
    holder = make(queue="q", concurrency=1, concurrency_key="k")
    behind = make(queue="q", concurrency=1, concurrency_key="k")
    producer.enqueue([holder, behind])
    [running] = producer.claim(["q"], "w0", 1, LEASE)
    assert running.id == holder.id
    with Waiter(worker, ["q"], timeout=1.0) as waiter:
        job = make(queue="q")
        producer.enqueue([job])
        waiter.done()
        stored = producer.get(job.id)
        assert stored is not None and stored.status is JobStatus.QUEUED
        assert [r.id for r in waiter.claim()] == [job.id]  # the job ahead still waits
        assert producer.complete(running.id, running.token, None)
        assert [r.id for r in waiter.claim()] == [behind.id]


def test_no_hand_off_once_work_was_made_due_since_the_worker_looked(
    producer: Store, worker: Store
) -> None:
    """A job made due again (retried by hand) in queue a while the worker waits on every
    queue: a later job of queue b, of lower priority, is not handed over past it."""
    first = make(queue="a", priority=5, max_attempts=1)
    producer.enqueue([first])
    [claimed] = producer.claim(None, "w0", 1, LEASE)
    ended = producer.end_attempts([policy.failed(first.id, claimed.token, "E: x", None)])
    assert ended == [JobStatus.FAILED]
    with Waiter(worker, None) as waiter:
        assert producer.retry(first.id)  # wakes a waiter of queue a
        later = make(queue="b", priority=0)
        producer.enqueue([later])
        waiter.done()
        stored = producer.get(later.id)
        assert stored is not None and stored.status is JobStatus.QUEUED
        assert [r.id for r in waiter.claim()] == [first.id, later.id]


def test_a_waiter_of_other_queues_is_not_handed_the_job(producer: Store, worker: Store) -> None:
    with Waiter(worker, ["other"], timeout=1.0) as waiter:
        job = make(queue="q")
        producer.enqueue([job])
        waiter.done()
        stored = producer.get(job.id)
        assert stored is not None and stored.status is JobStatus.QUEUED
        assert waiter.claim() == []


def test_one_job_is_handed_to_one_waiter(redis_store_url: str, producer: Store) -> None:
    stores = [open_store(redis_store_url) for _ in range(3)]
    try:
        waiters = [Waiter(s, ["q"], timeout=2.0) for s in stores]
        for w in waiters:
            w.__enter__()
        jobs = [make(queue="q") for _ in range(2)]
        for job in jobs:
            producer.enqueue([job])
        for w in waiters:
            w.done()
        claimed = [r for w in waiters for r in w.claim()]
        assert sorted(r.id for r in claimed) == sorted(j.id for j in jobs)
        assert all(r.token == 1 and r.attempts == 1 for r in claimed)
    finally:
        for s in stores:
            s.close()


def test_a_handed_job_outlives_a_claim_that_failed(producer: Store, worker: Store) -> None:
    """The store could not be reached when the worker next claimed (with a result to
    record): the job handed to it is still its next claim's."""
    out: list[JobRecord] = []
    ready = threading.Event()

    def unreachable(name: str, *args: object) -> object:
        raise StoreUnavailable("down for the test")

    def work() -> None:
        done = [Done("not-a-job", 1, None)]  # a result to record forces a round trip
        worker.complete_and_claim([], ["q"], "w1", 1, LEASE)
        ready.set()
        worker.wait_for_work(["q"], 10)
        run = worker._redis.run  # type: ignore[attr-defined]
        worker._redis.run = unreachable  # type: ignore[attr-defined]
        try:
            with pytest.raises(StoreUnavailable):
                worker.complete_and_claim(done, ["q"], "w1", 5, LEASE)
        finally:
            worker._redis.run = run  # type: ignore[attr-defined]
        out.extend(worker.complete_and_claim(done, ["q"], "w1", 5, LEASE)[1])

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert ready.wait(5)
    time.sleep(0.2)
    job = make(queue="q")
    producer.enqueue([job])
    thread.join(15)
    assert [(r.id, r.token) for r in out] == [(job.id, 1)]


def test_a_waiter_woken_by_stop_waiting_is_handed_nothing(producer: Store, worker: Store) -> None:
    """Its worker is stopping: a job handed to it now would be held by no one until its
    lease lapsed, at the cost of an attempt."""
    with Waiter(worker, None, timeout=30) as waiter:
        worker.stop_waiting()
        waiter.done()  # well before its 30 s
        assert not waiter.handed_over
        job = make(queue="q")
        producer.enqueue([job])
        stored = producer.get(job.id)
        assert stored is not None and stored.status is JobStatus.QUEUED
