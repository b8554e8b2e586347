"""A job the Redis store hands a child's thread while it waits for work is claimed already
(running, leased): the child tells its supervisor and runs it, or hands it back uncounted.
Never is it left to its lease, which would lapse at the cost of an attempt (with
max_attempts=1, a job failed without ever running)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator

import pytest

from backburner import Backburner, JobStatus
from backburner.errors import StoreUnavailable
from backburner.worker import child, reports
from backburner.worker.batching import Batches, Claim
from backburner.worker.messages import Claimed, Event, Finished
from backburner.worker.starts import Starts
from backburner.worker.supervisor import WorkerConfig

from .helpers import wait_until


@pytest.fixture
def bb(redis_store_url: str) -> Iterator[Backburner]:
    bb = Backburner(redis_store_url)
    bb.task(name="t", retries=0)(lambda: None)
    yield bb
    bb.close()


@pytest.fixture
def producer(redis_store_url: str) -> Iterator[Backburner]:
    bb = Backburner(redis_store_url)
    bb.task(name="t", retries=0)(lambda: None)
    yield bb
    bb.close()


def enqueue_once_waiting(
    bb: Backburner, producer: Backburner, first: Callable[[], object] = lambda: None
) -> tuple[threading.Thread, list[str]]:
    """A thread that, once a thread of `bb` waits for work (registered for a hand-off),
    calls `first` and enqueues a job, which the store hands to that waiting thread."""
    store = bb.store
    idlers = store._redis.key("idlers")  # type: ignore[attr-defined]
    ids: list[str] = []

    def run() -> None:
        wait_until(lambda: store._redis.connection().client.hlen(idlers))  # type: ignore[attr-defined]
        first()
        ids.append(producer.tasks["t"].delay().id)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, ids


def in_process_child(bb: Backburner, config: WorkerConfig) -> tuple[child.ChildState, list[Event]]:
    """A child's state in this process; the events it sends its supervisor."""
    _, writer = reports.pipe()
    sent: list[Event] = []
    writer.send = sent.extend  # type: ignore[method-assign,assignment]
    _, conn = multiprocessing.Pipe()
    return child.ChildState(bb, config, "w", conn, writer, Starts(8)), sent


def handed_back_uncounted(bb: Backburner, job_id: str) -> bool:
    job = bb.get_job(job_id)
    return job is not None and job.status is JobStatus.QUEUED and job.attempts == 0


def told(sent: list[Event], job_id: str) -> list[type]:
    return [type(e) for e in sent if isinstance(e, Claimed | Finished) and e.job_id == job_id]


def test_a_job_handed_to_a_thread_of_a_child_out_of_slots_goes_back_uncounted(
    bb: Backburner, producer: Backburner
) -> None:
    sent: list[Event] = []
    config = WorkerConfig(threads=2, max_jobs_per_child=1)
    batches = Batches(bb, config, "w", lambda *events: sent.extend(events))
    assert batches.claim(1).records == ()  # nothing due: its slot is free again
    # another thread of the child claims the last slot while this one waits
    enqueuer, ids = enqueue_once_waiting(bb, producer, lambda: batches.slots.take(1))
    bb.store.wait_for_work(None, 10)
    enqueuer.join(10)
    assert bb.store.handed_over()
    assert batches.claim(1) == Claim(used_up=True)
    [job_id] = ids
    assert handed_back_uncounted(bb, job_id)
    assert told(sent, job_id) == [Claimed, Finished]  # its cell is free again
    assert not bb.store.handed_over() and batches.slots.used_up


def test_a_job_handed_to_a_waiting_thread_is_claimed_before_it_runs_another(
    bb: Backburner, producer: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its lease runs from the hand-off: the supervisor must hear of it now, not after
    the thread ran a job another thread claimed meanwhile."""
    monkeypatch.setattr(child, "IDLE_WAIT", 10.0)  # the hand-off comes well within it
    state, sent = in_process_child(bb, WorkerConfig(threads=2))
    enqueuer, ids = enqueue_once_waiting(bb, producer)
    claimed = child._claim(state, 1)
    enqueuer.join(10)
    [job_id] = ids
    assert [r.id for r in claimed or ()] == [job_id]
    assert told(sent, job_id) == [Claimed]


def test_a_thread_stopping_with_the_store_out_of_reach_hands_back_its_handed_job(
    bb: Backburner, producer: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(child, "IDLE_WAIT", 10.0)  # the hand-off comes well within it
    state, sent = in_process_child(bb, WorkerConfig(threads=1))
    calls: list[int] = []
    claim = state.batches.claim

    def claim_once_then_fail(wanted: int) -> Claim:
        calls.append(wanted)
        if len(calls) == 1:
            return claim(wanted)
        state.stop.set()  # the child is told to stop as the store goes away
        raise StoreUnavailable("down for the test")

    state.batches.claim = claim_once_then_fail  # type: ignore[method-assign]
    enqueuer, ids = enqueue_once_waiting(bb, producer)
    thread = threading.Thread(target=child._work, args=(state,), daemon=True)
    thread.start()
    thread.join(15)
    enqueuer.join(10)
    assert not thread.is_alive()
    [job_id] = ids
    assert handed_back_uncounted(bb, job_id)
    assert told(sent, job_id) == [Claimed, Finished]
    assert not any(isinstance(e, Claimed) and e.job_id != job_id for e in sent)
