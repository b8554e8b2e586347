"""Concurrency and rate limits enforced at claim, and paused queues, on every store."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from typing import Any

from backburner import policy
from backburner.job import JobRecord, JobStatus
from backburner.stores import Store, open_store
from backburner.stores.base import Done

from .records import make, wait_until

LEASE = 30.0


def limited(key: str = "k", n: int = 1, **fields: Any) -> JobRecord:
    return make("lim", concurrency=n, concurrency_key=key, **fields)


def rated(key: str = "r", n: int = 3, period: float = 1.0, **fields: Any) -> JobRecord:
    return make("rated", rate_limit=n, rate_period=period, rate_key=key, **fields)


def ids(records: list[JobRecord]) -> list[str]:
    return [r.id for r in records]


# -- concurrency -----------------------------------------------------------------------
def test_a_claim_takes_no_more_jobs_of_a_key_than_its_concurrency(store: Store) -> None:
    jobs = [limited(n=2) for _ in range(5)]
    store.enqueue(jobs)
    assert ids(store.claim(None, "w", 10, LEASE)) == ids(jobs[:2])
    assert store.claim(None, "w", 10, LEASE) == []
    assert sorted(store.concurrency_holders("k")) == sorted(ids(jobs[:2]))


def test_a_finished_job_frees_its_slot_for_the_next_in_order(store: Store) -> None:
    jobs = [limited(priority=p) for p in (0, 5, 0)]
    store.enqueue(jobs)
    [first] = store.claim(None, "w", 10, LEASE)
    assert first.id == jobs[1].id  # highest priority first
    accepted, claimed = store.complete_and_claim(
        [Done(first.id, first.token, None)], None, "w", 10, LEASE
    )
    assert accepted == [True]
    assert ids(claimed) == [jobs[0].id]  # then enqueue order, one at a time


def test_each_key_has_its_own_slots(store: Store) -> None:
    jobs = [limited("user:1"), limited("user:1"), limited("user:2"), limited("user:2")]
    store.enqueue(jobs)
    assert ids(store.claim(None, "w", 10, LEASE)) == [jobs[0].id, jobs[2].id]
    assert store.concurrency_holders("user:1") == [jobs[0].id]
    assert store.concurrency_holders("user:3") == []


def test_jobs_over_their_limit_do_not_hold_up_other_jobs_behind_them(store: Store) -> None:
    blocked = [limited(priority=9) for _ in range(30)]
    store.enqueue(blocked)
    free = make("free", priority=0)
    store.enqueue([free])
    claimed = store.claim(None, "w", 2, LEASE)
    assert ids(claimed) == [blocked[0].id, free.id]
    assert ids(store.claim(None, "w", 2, LEASE)) == []


def test_every_way_an_attempt_ends_frees_its_slot_once(store: Store) -> None:
    store.enqueue([limited(n=1) for _ in range(6)])
    ends: list[Callable[[JobRecord], bool]] = [
        lambda r: store.complete(r.id, r.token, None),
        lambda r: store.fail(r.id, r.token, "Boom", None),
        lambda r: store.fail(r.id, r.token, "Boom", time.time()),  # retried: queued again
        lambda r: store.release(r.id, r.token),
        lambda r: store.cancel(r.id) is False and store.release(r.id, r.token),
    ]
    for end in ends:
        [record] = store.claim(None, "w", 10, LEASE)
        assert store.claim(None, "w", 10, LEASE) == []
        assert end(record)
        assert store.concurrency_holders("k") == []
    # a lease that lapsed frees its slot once rescued, not before
    [record] = store.claim(None, "w", 10, 0.05)
    wait_until(lambda: time.time() > (record.lease_until or 0) + 0.01)
    assert store.claim(None, "w", 10, LEASE) == []
    assert store.rescue_expired() == [record.id]
    [again] = store.claim(None, "w", 10, LEASE)
    assert store.concurrency_holders("k") == [again.id]


def test_a_job_with_a_limit_claimed_alone_is_still_counted(store: Store) -> None:
    a, b = limited(), limited()
    store.enqueue([a, b])
    assert ids(store.claim(None, "w", 1, LEASE)) == [a.id]
    assert store.claim(None, "w", 1, LEASE) == []
    ending = policy.failed(a.id, 1, "Boom", None)
    assert store.end_attempts([ending]) == [JobStatus.FAILED]
    assert ids(store.claim(None, "w", 1, LEASE)) == [b.id]


# -- rate --------------------------------------------------------------------------------
def test_a_rate_limit_admits_n_starts_per_window(store: Store) -> None:
    jobs = [rated(n=3, period=1.0) for _ in range(5)]
    store.enqueue(jobs)
    before = time.time()
    claimed = store.claim(None, "w", 10, LEASE)
    assert ids(claimed) == ids(jobs[:3])
    for r in claimed:  # outcomes do not give starts back
        store.complete(r.id, r.token, None)
    assert store.claim(None, "w", 10, LEASE) == []
    until = store.rate_window_until("r", 3)
    assert until is not None and before + 1.0 <= until <= time.time() + 1.0
    assert store.rate_window_until("other", 3) is None
    wait_until(lambda: time.time() > until)
    assert ids(store.claim(None, "w", 10, LEASE)) == ids(jobs[3:])


def test_rate_keys_are_separate_windows(store: Store) -> None:
    jobs = [rated("a", n=1), rated("a", n=1), rated("b", n=1)]
    store.enqueue(jobs)
    assert ids(store.claim(None, "w", 10, LEASE)) == [jobs[0].id, jobs[2].id]


def test_a_job_may_have_both_a_concurrency_and_a_rate_limit(store: Store) -> None:
    jobs = [limited(n=1, rate_limit=5, rate_period=60.0, rate_key="r") for _ in range(3)]
    store.enqueue(jobs)
    [first] = store.claim(None, "w", 10, LEASE)
    assert store.claim(None, "w", 10, LEASE) == []
    assert store.rate_window_until("r", 5) is None  # one start: room for four more
    store.complete(first.id, first.token, None)
    assert ids(store.claim(None, "w", 10, LEASE)) == [jobs[1].id]


# -- waiting without spinning --------------------------------------------------------------
def test_waiting_for_work_sleeps_while_every_due_job_is_over_its_limit(store: Store) -> None:
    store.enqueue([limited(), limited()])
    assert len(store.claim(None, "w", 10, LEASE)) == 1
    assert wakes_in(store, None, 1.0) <= 20  # a spinning worker would wake thousands of times


def wakes_in(store: Store, queues: list[str] | None, seconds: float) -> int:
    """How often a worker waiting `seconds` for work (0.3 s at a time) is woken, claiming
    nothing each time (a wake-up left over from an enqueue may come once)."""
    deadline, wakes = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        store.wait_for_work(queues, 0.3)
        assert store.claim(queues, "w", 10, LEASE) == []
        wakes += 1
    return wakes


def test_waiting_for_work_ends_when_a_rate_window_makes_room(store: Store) -> None:
    store.enqueue([rated(n=1, period=1.0), rated(n=1, period=1.0)])
    assert len(store.claim(None, "w", 10, LEASE)) == 1
    until = store.rate_window_until("r", 1)
    assert until is not None
    wakes, claimed = 0, list[JobRecord]()
    while not claimed and wakes < 20:
        store.wait_for_work(None, 5.0)
        wakes += 1
        claimed = store.claim(None, "w", 10, LEASE)
    assert claimed, "woken 20 times without room in the window"
    assert until <= time.time() < until + 1.5


# -- paused queues ---------------------------------------------------------------------------
def test_a_paused_queue_accepts_jobs_but_gives_none_until_resumed(store: Store) -> None:
    store.pause("mail")
    assert store.paused_queues() == {"mail"}
    job, other = make("m", queue="mail"), make("o", queue="other")
    store.enqueue([job, other])
    assert ids(store.claim(None, "w", 10, LEASE)) == [other.id]
    assert store.claim(["mail"], "w", 10, LEASE) == []
    assert wakes_in(store, ["mail"], 1.0) <= 20
    store.resume("mail")
    store.resume("mail")  # resuming twice is harmless
    assert store.paused_queues() == set()
    assert ids(store.claim(["mail"], "w", 10, LEASE)) == [job.id]


def test_pausing_leaves_running_jobs_to_finish(store: Store) -> None:
    job = make("m", queue="mail")
    store.enqueue([job])
    [running] = store.claim(None, "w", 10, LEASE)
    store.pause("mail")
    store.pause("mail")
    assert store.complete(running.id, running.token, None)
    assert store.paused_queues() == {"mail"}


def test_resuming_wakes_a_waiting_worker(store: Store) -> None:
    store.pause("mail")
    store.enqueue([make("m", queue="mail")])
    woke: list[float] = []

    def wait() -> None:
        store.wait_for_work(["mail"], 10.0)
        woke.append(time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)  # let it start waiting (a resume before is also fine: it returns)
    resumed = time.monotonic()
    store.resume("mail")
    waiter.join(10)
    assert woke and woke[0] - resumed < 2.0


def test_paused_state_survives_reopening_the_store(shared_url: str) -> None:
    first = open_store(shared_url)
    first.pause("reports")
    first.close()
    again = open_store(shared_url)
    try:
        assert again.paused_queues() == {"reports"}
    finally:
        again.close()


# -- racing processes ------------------------------------------------------------------------
SLOTS = 3
RACE_JOBS = 120


def _racer(url: str, name: str, start: Any, inflight: Any, peak: Any, out: Any) -> None:
    store = open_store(url)
    start.wait()
    done: list[str] = []
    over: list[int] = []

    def work(thread: int) -> None:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.5:
            batch = store.claim(None, f"{name}-{thread}", 2, LEASE)
            if not batch:
                time.sleep(0.002)
                continue
            idle_since = time.monotonic()
            mine = [job for job in batch if job.task == "lim"]
            with inflight.get_lock():
                inflight.value += len(mine)
                peak.value = max(peak.value, inflight.value)
            seen = len(store.concurrency_holders("k"))
            if seen > SLOTS:
                over.append(seen)
            time.sleep(0.002)
            for job in batch:
                if job.task == "lim":
                    with inflight.get_lock():
                        inflight.value -= 1
                assert store.complete(job.id, job.token, None)
                done.append(job.id)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((done, over))
    store.close()


def test_racing_processes_never_run_more_than_the_concurrency(shared_url: str) -> None:
    store = open_store(shared_url)
    store.enqueue([limited(n=SLOTS) for _ in range(RACE_JOBS)])
    store.enqueue([make("free") for _ in range(RACE_JOBS)])
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(4), ctx.Queue()
    inflight, peak = ctx.Value("i", 0), ctx.Value("i", 0)
    procs = [
        ctx.Process(target=_racer, args=(shared_url, f"p{i}", start, inflight, peak, out))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    done = [job_id for ran, _ in results for job_id in ran]
    assert len(done) == len(set(done)) == 2 * RACE_JOBS
    assert [seen for _, over in results for seen in over] == []
    assert 1 <= peak.value <= SLOTS
    assert store.concurrency_holders("k") == []
    store.close()
