"""Claiming ahead (worker/batching.Batches): while the queue is busy, the batch thread
claims for the child's threads before they run dry, so they seldom wait on a claim."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backburner import Backburner, JobStatus
from backburner.job import JobRecord
from backburner.worker.batching import Batches
from backburner.worker.messages import Claimed, Finished
from backburner.worker.supervisor import WorkerConfig

from . import workerapp
from .helpers import Start, wait_until


@pytest.fixture
def bb() -> Iterator[Backburner]:
    bb = Backburner("memory://")
    bb.task(name="t")(lambda: None)
    for _ in range(10):
        bb.tasks["t"].delay()
    yield bb
    bb.close()


def running(bb: Backburner) -> int:
    return sum(c.get(JobStatus.RUNNING, 0) for c in bb.store.counts().values())


class Child:
    """A child's Batches and its batch thread, recording what it tells the supervisor."""

    def __init__(self, bb: Backburner, threads: int = 8) -> None:
        self.sent: list[object] = []
        config = WorkerConfig(threads=threads)
        self.batches = Batches(bb, config, "w", lambda *events: self.sent.extend(events))
        self.thread = threading.Thread(target=self.batches.run)
        self.thread.start()

    def close(self) -> None:
        self.batches.close()
        self.thread.join(10)


def test_a_pick_that_leaves_fewer_jobs_than_a_full_claim_makes_the_batch_thread_claim_ahead(
    bb: Backburner,
) -> None:
    child = Child(bb)
    try:
        claim = child.batches.claim(3)  # full: the queue is busy
        child.batches.hold(claim.records)
        assert running(bb) == 3
        first = child.batches.next_job()  # 2 left: more are claimed ahead
        wait_until(lambda: running(bb) > 3)
        rest = [child.batches.next_job() for _ in range(5)]
        picked = [r for r in (first, *rest) if r is not None]
        assert len({r.id for r in picked}) == 6
        # the supervisor heard of every job before a thread could pick it
        told = {(e.job_id, e.token) for e in child.sent if isinstance(e, Claimed)}
        assert {(r.id, r.token) for r in picked[3:]} <= told
    finally:
        child.close()


def test_a_claim_that_brings_fewer_than_wanted_stops_claiming_ahead(bb: Backburner) -> None:
    child = Child(bb)
    try:
        claim = child.batches.claim(20)  # the queue ran dry: the threads claim themselves
        child.batches.hold(claim.records)
        assert [child.batches.next_job() is not None for _ in range(10)] == [True] * 10
        assert child.batches.next_job() is None
        assert running(bb) == 10
    finally:
        child.close()


def test_a_thread_that_finds_nothing_waits_for_the_claim_ahead_in_flight(
    bb: Backburner,
) -> None:
    child = Child(bb)
    through, entered = _held_claims_ahead(bb, child)
    try:
        claim = child.batches.claim(2)
        child.batches.hold(claim.records)
        assert child.batches.next_job() is not None  # 1 left: claim 2 ahead
        assert entered.wait(10)
        assert child.batches.next_job() is not None
        # it waits for the jobs on their way rather than claim or give up
        waiter, got = _waiting_for_a_claim_ahead(child.batches)
        through.set()
        waiter.join(10)
        assert got and got[0] is not None
    finally:
        through.set()
        child.close()


def test_jobs_a_claim_ahead_brings_after_the_child_stopped_claiming_go_back_uncounted(
    bb: Backburner,
) -> None:
    child = Child(bb)
    through, entered = _held_claims_ahead(bb, child)
    try:
        claim = child.batches.claim(2)
        child.batches.hold(claim.records)
        assert child.batches.next_job() is not None
        assert entered.wait(10)
        assert len(child.batches.unstarted()) == 1  # stopping
        through.set()

        # the jobs claimed ahead go back, and the supervisor lets go of them
        def ahead() -> list[str]:
            return [e.job_id for e in child.sent if isinstance(e, Claimed)]

        wait_until(lambda: ahead() and all(Finished(i, 1) in child.sent for i in ahead()))
        for job_id in ahead():
            job = bb.get_job(job_id)
            assert job is not None and job.status == JobStatus.QUEUED and job.attempts == 0
        assert running(bb) == 2  # the one picked, and the one unstarted() took
    finally:
        through.set()
        child.close()


def test_a_thread_waiting_for_a_claim_ahead_not_yet_begun_is_let_go_when_the_child_stops(
    bb: Backburner,
) -> None:
    # the child stops (unstarted) after a thread asked for a claim ahead and before the
    # batch thread began it: no claim will land, so nothing else would wake the thread
    batches = _busy_without_batch_thread(bb)
    waiter, got = _waiting_for_a_claim_ahead(batches)
    assert batches.unstarted() == []
    waiter.join(10)
    assert got == [None]


def test_a_thread_waiting_for_a_claim_ahead_sees_the_child_stop_and_nothing_more_is_claimed(
    bb: Backburner,
) -> None:
    # SIGTERM or Stop only sets the child's stop event: no notify reaches the waiter
    stop = threading.Event()
    batches = _busy_without_batch_thread(bb, stop)
    waiter, got = _waiting_for_a_claim_ahead(batches)
    stop.set()
    waiter.join(10)
    assert got == [None]
    batch_thread = threading.Thread(target=batches.run)  # the request it left: not served
    batch_thread.start()
    batches.close()
    batch_thread.join(10)
    assert running(bb) == 2


def test_jobs_claimed_one_at_a_time_are_not_claimed_ahead(bb: Backburner) -> None:
    child = Child(bb)
    claim = child.batches.claim(1)  # slow jobs: a claimed-ahead one would only wait
    child.batches.hold(claim.records)
    assert child.batches.next_job() is not None
    child.close()  # the batch thread ends after any claim ahead it was asked for
    assert running(bb) == 1


def test_while_the_queue_is_busy_a_thread_gets_every_job_through_the_batch_thread(
    bb: Backburner,
) -> None:
    child = Child(bb)
    store: Any = bb.store
    callers: list[threading.Thread] = []
    real = store.complete_and_claim

    def spy(*args: Any) -> Any:
        callers.append(threading.current_thread())
        return real(*args)

    try:
        claim = child.batches.claim(2)  # full: the queue is busy
        child.batches.hold(claim.records)
        store.complete_and_claim = spy
        picked = []
        while (record := child.batches.next_job()) is not None:
            picked.append(record.id)
        # the thread never claimed: it waited for the batch thread's claims, and stopped
        # at the one that found the queue dry (then a thread claims, or waits, itself)
        assert len(set(picked)) == 10
        assert callers and set(callers) == {child.thread}
    finally:
        child.close()


def test_a_child_with_one_thread_claims_for_itself(bb: Backburner) -> None:
    child = Child(bb, threads=1)  # bound by the CPU: a claim in another thread gains nothing
    claim = child.batches.claim(3)
    child.batches.hold(claim.records)
    assert child.batches.next_job() is not None
    child.close()
    assert running(bb) == 3


def test_a_busy_burst_worker_runs_every_job_once_while_claiming_ahead(
    tmp_path: Path, start: Start
) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    app = workerapp.build(url)
    try:
        # 5 ms jobs on 8 threads: claims of about 8, so the batch threads claim ahead
        jobs = app.enqueue_many(app.tasks["sleep"].s(0.005) for _ in range(400))
        assert start(url, "--burst", "-p", "2", "--threads", "8").wait(120) == 0
        records = [app.store.get(j.id) for j in jobs]
        assert {(r.status, r.attempts) for r in records if r} == {(JobStatus.SUCCEEDED, 1)}
    finally:
        app.close()


def _held_claims_ahead(bb: Backburner, child: Child) -> tuple[threading.Event, threading.Event]:
    """Make the batch thread's store calls wait: (through, entered), set `through` to let
    them go; `entered` is set once one waits."""
    store: Any = bb.store
    through, entered = threading.Event(), threading.Event()
    real = store.complete_and_claim

    def slow(*args: Any) -> Any:
        if threading.current_thread() is child.thread:
            entered.set()
            through.wait(10)
        return real(*args)

    store.complete_and_claim = slow
    return through, entered


def _busy_without_batch_thread(bb: Backburner, stop: threading.Event | None = None) -> Batches:
    """A child's Batches, no batch thread, having claimed a full batch of 2 (the queue is
    busy, so a claim ahead is wanted) and handed both jobs to its threads."""
    batches = Batches(bb, WorkerConfig(threads=8), "w", lambda *events: None, stop=stop)
    batches.hold(batches.claim(2).records)
    assert batches.next_job() is not None and batches.next_job() is not None
    return batches


def _waiting_for_a_claim_ahead(batches: Batches) -> tuple[threading.Thread, list[JobRecord | None]]:
    """A thread in next_job() that finds nothing held and waits for a claim ahead; what
    it gets lands in the list."""
    got: list[JobRecord | None] = []
    waiter = threading.Thread(target=lambda: got.append(batches.next_job()))
    waiter.start()
    waiter.join(0.2)
    assert not got  # waiting for the claim ahead
    return waiter, got
