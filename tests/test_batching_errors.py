"""A bug in a child's batching (worker/batching.Batches) loses nothing: results and events
taken for a store call that raised are recorded and sent later, and the batch thread
outlives an error, so threads waiting on it are let go and results still get recorded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from backburner import Backburner, JobStatus
from backburner.errors import StoreUnavailable
from backburner.job import JobRecord
from backburner.stores.base import Done
from backburner.worker import batching
from backburner.worker.batching import Batches
from backburner.worker.messages import Claimed, Event, Finished
from backburner.worker.supervisor import WorkerConfig

from .helpers import wait_until
from .test_batching_ahead import _waiting_for_a_claim_ahead, running
from .test_batching_ahead import bb as bb  # the fixture: ten jobs queued in memory


def status(bb: Backburner, record: JobRecord) -> JobStatus | None:
    job = bb.get_job(record.id)
    return job.status if job is not None else None


def raising_once() -> Callable[[], None]:
    """A callable that raises RuntimeError the first time, then does nothing."""
    calls: list[None] = []

    def call() -> None:
        calls.append(None)
        if len(calls) == 1:
            raise RuntimeError("a bug")

    return call


def test_results_and_events_a_failed_claim_took_are_recorded_and_sent_with_the_next(
    bb: Backburner,
) -> None:
    config = WorkerConfig(threads=2, max_jobs_per_child=5)
    batches = Batches(bb, config, "w", lambda *events: None)
    done, let_go = batches.claim(2).records
    batches.add(Done(done.id, done.token, None))
    batches.report(Finished(let_go.id, let_go.token))  # a failed job let go, say
    batches.before_record = raising_once()  # writing the jobs' last output lines raises
    with pytest.raises(RuntimeError):
        batches.claim(1)
    assert status(bb, done) is JobStatus.RUNNING  # not recorded: still waiting
    assert batches.slots.left == 3  # nothing claimed: its slot is given back
    claim = batches.claim(1)
    assert status(bb, done) is JobStatus.SUCCEEDED
    assert {Finished(done.id, done.token), Finished(let_go.id, let_go.token)} <= {*claim.events}
    assert len(claim.records) == 1 and batches.slots.left == 2


def test_a_claim_that_fails_once_the_store_has_answered_still_tells_of_every_job(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = Batches(bb, WorkerConfig(threads=2), "w", lambda *events: None)
    [done] = batches.claim(1).records
    batches.add(Done(done.id, done.token, None))
    monkeypatch.setattr(batches.starts, "claim", lambda job_id, token: 1 / 0)
    claim = batches.claim(3)  # recorded and claimed in the store: the child must know
    assert status(bb, done) is JobStatus.SUCCEEDED
    assert len(claim.records) == 3
    assert Finished(done.id, done.token) in claim.events
    told = {e.job_id: e.cell for e in claim.events if isinstance(e, Claimed)}
    # no cell: each start goes to the supervisor by pipe (a Started event)
    assert told == {r.id: -1 for r in claim.records}


def test_the_batch_thread_outlives_an_error_and_records_the_results_later(
    bb: Backburner, caplog: pytest.LogCaptureFixture
) -> None:
    batches = Batches(bb, WorkerConfig(threads=2), "w", lambda *events: None)
    [record] = batches.claim(1).records
    batches.before_record = raising_once()
    thread = threading.Thread(target=batches.run)
    thread.start()
    try:
        with caplog.at_level(logging.ERROR, logger="backburner.worker"):
            batches.add(Done(record.id, record.token, None))
            wait_until(lambda: status(bb, record) is JobStatus.SUCCEEDED)
        assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)
        assert thread.is_alive()
    finally:
        batches.close()
        thread.join(10)
    assert not thread.is_alive()


def test_a_thread_waiting_for_a_claim_ahead_is_let_go_when_the_batch_thread_fails(
    bb: Backburner,
) -> None:
    failed = threading.Event()
    batch_thread = threading.Thread(target=lambda: batches.run())

    def send(*events: Event) -> None:  # the batch thread's first message raises
        if threading.current_thread() is batch_thread and not failed.is_set():
            failed.set()
            raise RuntimeError("a bug")

    batches = Batches(bb, WorkerConfig(threads=8), "w", send)
    batches.hold(batches.claim(2).records)  # full: the queue is busy, claim ahead
    first, second = batches.next_job(), batches.next_job()
    assert first is not None and second is not None
    waiter, got = _waiting_for_a_claim_ahead(batches)
    batch_thread.start()
    try:
        assert failed.wait(10)
        waiter.join(10)
        assert got == [None]  # it claims for itself, not waits for the child's stop
        batches.add(Done(first.id, first.token, None))  # and the batch thread still serves
        wait_until(lambda: status(bb, first) is JobStatus.SUCCEEDED)
    finally:
        batches.close()
        batch_thread.join(10)
    assert not batch_thread.is_alive()


def test_a_closed_batch_thread_that_cannot_record_ends_and_leaves_the_jobs_held(
    bb: Backburner,
) -> None:
    batches = Batches(bb, WorkerConfig(threads=2), "w", lambda *events: None)
    [record] = batches.claim(1).records

    def broken() -> None:
        raise RuntimeError("a bug")

    batches.before_record = broken  # every time: it must not loop for ever
    batches.add(Done(record.id, record.token, None))
    batches.close()
    thread = threading.Thread(target=batches.run)
    thread.start()
    thread.join(10)
    # the supervisor, not told Finished, hands the job back uncounted once the child exits
    assert not thread.is_alive()
    assert status(bb, record) is JobStatus.RUNNING


class FailingOnce:
    """A child's `send` whose first message from the batch thread raises (a bug); it
    records the events of every message sent."""

    def __init__(self) -> None:
        self.sent: list[Event] = []
        self.failed = threading.Event()
        self.batch_thread: threading.Thread | None = None

    def __call__(self, *events: Event) -> None:
        mine = threading.current_thread() is self.batch_thread
        if events and mine and not self.failed.is_set():
            self.failed.set()
            raise RuntimeError("a bug")
        self.sent.extend(events)

    def run(self, batches: Batches) -> threading.Thread:
        self.batch_thread = threading.Thread(target=batches.run, daemon=True)
        self.batch_thread.start()
        return self.batch_thread


def test_stale_jobs_go_back_though_telling_the_supervisor_fails(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "HOLD_LIMIT", 0.0)  # held jobs are stale at once
    send = FailingOnce()
    batches = Batches(bb, WorkerConfig(threads=2, max_jobs_per_child=5), "w", send)
    *stale, let_go = batches.claim(3).records
    batches.report(Finished(let_go.id, let_go.token))  # waiting to go with the next message
    batches.hold(stale)
    thread = send.run(batches)
    try:
        assert send.failed.wait(10)
        wait_until(lambda: {status(bb, r) for r in stale} == {JobStatus.QUEUED})
        assert batches.slots.left == 4  # they never ran: their slots are free again
        told = {(r.id, r.token) for r in (*stale, let_go)}
        # nothing the failed message held is lost: it goes with a later one
        wait_until(lambda: told <= {(e.job_id, e.token) for e in send.sent if type(e) is Finished})
        assert batches.next_job() is None
    finally:
        batches.close()
        thread.join(10)
    assert not thread.is_alive()


def test_jobs_claimed_ahead_go_back_when_telling_the_supervisor_of_them_fails(
    bb: Backburner,
) -> None:
    send = FailingOnce()
    batches = Batches(bb, WorkerConfig(threads=8, max_jobs_per_child=100), "w", send)
    batches.hold(batches.claim(2).records)  # full: the queue is busy, claim ahead
    first, second = batches.next_job(), batches.next_job()
    assert first is not None and second is not None
    thread = send.run(batches)
    try:
        assert send.failed.wait(10)
        # none of them may start unknown to the supervisor: back to the queue, uncounted
        wait_until(lambda: running(bb) == 2)  # the two the child's threads took
        assert batches.slots.left == 98
        assert batches.next_job() is None
        assert not any(isinstance(e, Claimed) for e in send.sent)
    finally:
        batches.close()
        thread.join(10)
    assert not thread.is_alive()


def test_a_child_stopping_while_the_store_is_out_of_reach_ends_its_batch_thread(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch thread took jobs as stale just before the child took the unstarted ones
    to hand back, and the store cannot be reached to release them. Held again, they would
    be stale again at its next look should that come HOLD_LIMIT later (0 here, as for a
    busy or paused process), and the batch thread, and the child's exit, would wait for
    the store. The supervisor, told they were claimed, hands them back instead."""
    monkeypatch.setattr(batching, "HOLD_LIMIT", 0.0)
    sent: list[Event] = []
    batches = Batches(bb, WorkerConfig(threads=2), "w", lambda *events: sent.extend(events))
    records = batches.claim(2).records
    releasing, stopped = threading.Event(), threading.Event()

    def unreachable(job_id: str, token: int) -> bool:
        releasing.set()
        stopped.wait(10)
        raise StoreUnavailable("down for the test")

    monkeypatch.setattr(bb.store, "release", unreachable)
    batches.hold(records)
    thread = threading.Thread(target=batches.run, daemon=True)
    thread.start()
    assert releasing.wait(10)  # the batch thread took them as stale
    assert batches.unstarted() == []  # the child stops
    batches.close()
    stopped.set()
    thread.join(10)
    assert not thread.is_alive()
    assert {status(bb, r) for r in records} == {JobStatus.RUNNING}
    assert not any(isinstance(e, Finished) for e in sent)  # still the supervisor's
