"""The Store protocol's guarantees, checked on every backend (single process)."""

from __future__ import annotations

import threading
import time
from dataclasses import fields, replace

import pytest

from backburner import policy
from backburner.job import FINISHED, JobRecord, JobStatus
from backburner.stores import Store, WorkerInfo
from backburner.stores.base import Done

from .records import make, wait_until

LEASE = 30.0


def claim_all(store: Store, limit: int = 100, queues: list[str] | None = None) -> list[str]:
    return [r.task for r in store.claim(queues, "w1", limit, LEASE)]


def test_enqueue_then_get_round_trips_every_field(store: Store) -> None:
    record = make(
        "mail.send",
        queue="emails",
        payload='[[1],{"a":2}]',
        priority=3,
        max_attempts=5,
        retry_backoff=2.5,
        timeout=9.0,
    )
    assert store.enqueue([record]) == [record.id]
    got = store.get(record.id)
    assert got is not None
    assert (got.task, got.queue, got.payload, got.priority) == (
        "mail.send",
        "emails",
        '[[1],{"a":2}]',
        3,
    )
    assert (got.max_attempts, got.retry_backoff, got.timeout) == (5, 2.5, 9.0)
    assert got.status is JobStatus.QUEUED and got.attempts == 0
    assert got.created_at == pytest.approx(record.created_at)
    assert store.get("no-such-job") is None


def test_claim_takes_priority_first_then_fifo(store: Store) -> None:
    records = [
        make("low1"),
        make("high1", priority=5),
        make("low2"),
        make("high2", priority=5),
        make("mid", priority=1),
    ]
    store.enqueue(records)
    assert claim_all(store, limit=2) == ["high1", "high2"]
    assert claim_all(store, limit=10) == ["mid", "low1", "low2"]
    assert claim_all(store) == []


def test_fifo_holds_across_separate_enqueues(store: Store) -> None:
    for i in range(30):
        store.enqueue([make(f"j{i:02}")])
    got = []
    while batch := claim_all(store, limit=7):
        got += batch
    assert got == [f"j{i:02}" for i in range(30)]


def test_claim_marks_running_with_lease_and_fresh_token(store: Store) -> None:
    record = make()
    store.enqueue([record])
    before = time.time()
    [claimed] = store.claim(None, "worker-a", 1, 12.0)
    assert claimed.status is JobStatus.RUNNING and claimed.worker_id == "worker-a"
    assert claimed.attempts == 1 and claimed.token != record.token
    assert claimed.lease_until is not None
    assert before + 12.0 <= claimed.lease_until <= time.time() + 12.0
    got = store.get(record.id)
    assert got is not None and got.status is JobStatus.RUNNING and got.token == claimed.token


def test_claim_only_from_the_queues_asked(store: Store) -> None:
    store.enqueue([make("a", queue="emails"), make("b", queue="default"), make("c", queue="high")])
    assert claim_all(store, queues=["high", "emails"]) == ["a", "c"]
    assert claim_all(store, queues=["nothing"]) == []
    assert claim_all(store) == ["b"]


def test_scheduled_job_is_not_claimable_before_due_and_is_right_after(store: Store) -> None:
    due = time.time() + 0.4
    record = make("later", run_at=due)
    store.enqueue([record])
    got = store.get(record.id)
    assert got is not None and got.status is JobStatus.SCHEDULED
    assert claim_all(store) == []
    [claimed] = wait_until(lambda: store.claim(None, "w", 1, LEASE), timeout=5, interval=0.005)
    assert claimed.id == record.id
    assert time.time() >= due
    assert time.time() - due < 5.0  # right after: not only once some later scan comes round


def test_due_job_reports_queued(store: Store) -> None:
    record = make(run_at=time.time() + 0.05)
    store.enqueue([record])
    wait_until(lambda: store.get(record.id).status is JobStatus.QUEUED)  # type: ignore[union-attr]


def test_complete_records_result_once(store: Store) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.complete(job.id, job.token, '{"ok":true}')
    got = store.get(job.id)
    assert got is not None
    assert got.status is JobStatus.SUCCEEDED and got.result == '{"ok":true}'
    assert got.finished_at is not None and got.lease_until is None
    assert not store.complete(job.id, job.token, '"again"')
    assert not store.fail(job.id, job.token, "late", None)
    assert store.get(job.id).result == '{"ok":true}'  # type: ignore[union-attr]


def test_a_light_get_reads_everything_but_the_arguments_and_the_failures(store: Store) -> None:
    big = '[["' + "x" * 1_000_000 + '"],{}]'
    store.enqueue([make(payload=big, max_attempts=3)])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.fail(job.id, job.token, "ValueError: one\ntraceback", time.time() + 60)
    full, light = store.get(job.id), store.get(job.id, light=True)
    assert full is not None and light is not None
    assert full.payload == big and len(full.failures) == 1
    assert (light.payload, light.failures) == ("", ())  # what the store returned: no 1 MB
    assert replace(light, payload=full.payload, failures=full.failures) == full
    assert light.error == "ValueError: one\ntraceback" and light.status is JobStatus.SCHEDULED
    assert store.get("no-such-job", light=True) is None


@pytest.mark.parametrize("job_id", ["a\x00b", "x" * 10_000, "", "../..", "%00"])
def test_get_of_an_id_no_job_has_is_none_whatever_its_text(store: Store, job_id: str) -> None:
    store.enqueue([make()])
    assert store.get(job_id) is None and store.get(job_id, light=True) is None


def test_fail_with_retry_requeues_and_keeps_every_error(store: Store) -> None:
    store.enqueue([make(max_attempts=3)])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.fail(job.id, job.token, "ValueError: one\ntraceback 1", time.time())
    [again] = store.claim(None, "w", 1, LEASE)
    assert again.id == job.id and again.attempts == 2 and again.token != job.token
    assert store.fail(again.id, again.token, "ValueError: two\ntraceback 2", None)
    got = store.get(job.id)
    assert got is not None
    assert got.status is JobStatus.FAILED and got.finished_at is not None
    assert got.error == "ValueError: two\ntraceback 2"
    assert [(f.attempt, f.error) for f in got.failures] == [
        (1, "ValueError: one\ntraceback 1"),
        (2, "ValueError: two\ntraceback 2"),
    ]


def test_retry_at_in_the_future_schedules(store: Store) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    store.fail(job.id, job.token, "E: x", time.time() + 60)
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.SCHEDULED
    assert claim_all(store) == []


def test_expired_lease_is_rescued_and_stale_holder_is_fenced(store: Store) -> None:
    store.enqueue([make(max_attempts=3)])
    [stale] = store.claim(None, "w-old", 1, 0.05)
    assert store.rescue_expired(time.time()) == []
    assert wait_until(lambda: store.rescue_expired(time.time())) == [stale.id]
    got = store.get(stale.id)
    assert got is not None and got.status is JobStatus.QUEUED
    assert len(got.failures) == 1 and "Lease" in got.failures[0].error
    [fresh] = store.claim(None, "w-new", 1, LEASE)
    assert fresh.id == stale.id and fresh.attempts == 2
    assert not store.complete(stale.id, stale.token, '"stale"')
    assert not store.fail(stale.id, stale.token, "stale", None)
    assert not store.set_progress(stale.id, stale.token, {"done": 1})
    assert not store.release(stale.id, stale.token)
    hb = store.heartbeat("w-old", {stale.id: stale.token}, LEASE)
    assert hb.lost == {stale.id}
    assert store.complete(fresh.id, fresh.token, '"fresh"')
    assert store.get(stale.id).result == '"fresh"'  # type: ignore[union-attr]


def test_rescue_out_of_attempts_fails_the_job(store: Store) -> None:
    store.enqueue([make(max_attempts=1)])
    [job] = store.claim(None, "w", 1, 0.01)
    wait_until(lambda: store.rescue_expired(time.time()))
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.FAILED and got.error
    assert claim_all(store) == []


def test_heartbeat_extends_held_leases(store: Store) -> None:
    store.enqueue([make(), make()])
    a, b = store.claim(None, "w", 2, 0.3)
    reply = store.heartbeat("w", {a.id: a.token, b.id: b.token + 99}, 60.0)
    assert reply.lost == {b.id} and reply.cancel_requested == frozenset()
    rescued = wait_until(lambda: store.rescue_expired(time.time()))
    assert rescued == [b.id]
    assert store.get(a.id).status is JobStatus.RUNNING  # type: ignore[union-attr]


def test_release_hands_back_without_counting_the_attempt(store: Store) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.release(job.id, job.token)
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.QUEUED and got.attempts == 0
    [again] = store.claim(None, "w", 1, LEASE)
    assert again.attempts == 1 and again.token != job.token
    assert not store.complete(job.id, job.token, None)


def test_a_handed_back_job_clears_its_start_worker_and_progress(store: Store) -> None:
    store.enqueue([make(max_attempts=3)])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.set_progress(job.id, job.token, {"done": 1, "total": 2, "message": "half"})
    assert store.release(job.id, job.token)
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.QUEUED
    assert (got.started_at, got.worker_id, got.progress) == (None, None, None)


def test_a_counted_ending_keeps_its_start_and_worker(store: Store) -> None:
    store.enqueue([make(max_attempts=3)])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.fail(job.id, job.token, "E: boom", time.time())
    got = store.get(job.id)
    assert got is not None and got.started_at == job.started_at and got.worker_id == "w"


def test_progress_is_stored_for_the_current_attempt(store: Store) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.set_progress(job.id, job.token, {"done": 3, "total": 10, "message": "resizing"})
    got = store.get(job.id)
    assert got is not None and got.progress == {
        "done": 3,
        "total": 10,
        "message": "resizing",
    }


def test_unique_key_dedupes_while_live_and_not_after(store: Store) -> None:
    first = make(unique_key="report:7")
    assert store.enqueue([first]) == [first.id]
    dup = make(unique_key="report:7")
    assert store.enqueue([dup]) == [first.id]
    assert store.get(dup.id) is None
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.enqueue([make(unique_key="report:7")]) == [first.id]  # running still counts
    store.complete(job.id, job.token, None)
    after = make(unique_key="report:7")
    assert store.enqueue([after]) == [after.id]
    other = make(unique_key="report:8")
    assert store.enqueue([other]) == [other.id]


def test_unique_key_dedupes_within_one_batch(store: Store) -> None:
    a, b = make(unique_key="k"), make(unique_key="k")
    assert store.enqueue([a, b]) == [a.id, a.id]


def test_batch_enqueue_is_all_or_nothing(store: Store) -> None:
    kept = make()
    store.enqueue([kept])
    fresh = make()
    clash = make()
    object.__setattr__(clash, "id", kept.id)
    with pytest.raises(ValueError):
        store.enqueue([fresh, clash])
    assert store.get(fresh.id) is None
    assert store.get(kept.id) is not None


def test_cancel_queued_job(store: Store) -> None:
    record = make()
    store.enqueue([record])
    assert store.cancel(record.id)
    got = store.get(record.id)
    assert got is not None and got.status is JobStatus.CANCELLED
    assert claim_all(store) == []
    assert not store.cancel(record.id)
    assert not store.cancel("missing")


def test_cancel_running_job_requests_it_and_stops_retries(store: Store) -> None:
    store.enqueue([make(max_attempts=5)])
    [job] = store.claim(None, "w", 1, LEASE)
    assert not store.cancel(job.id)
    assert store.heartbeat("w", {job.id: job.token}, LEASE).cancel_requested == {job.id}
    assert store.get(job.id).cancel_requested  # type: ignore[union-attr]
    store.fail(job.id, job.token, "E: stopped", time.time())
    assert store.get(job.id).status is JobStatus.CANCELLED  # type: ignore[union-attr]


def test_retry_requeues_a_failed_job_with_fresh_attempts(store: Store) -> None:
    store.enqueue([make(max_attempts=1)])
    [job] = store.claim(None, "w", 1, LEASE)
    store.fail(job.id, job.token, "E: boom", None)
    assert store.retry(job.id)
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.QUEUED and got.attempts == 0
    assert len(got.failures) == 1
    assert not store.retry(job.id)  # not failed any more
    [again] = store.claim(None, "w", 1, LEASE)
    assert again.attempts == 1


def test_a_manual_retry_is_marked_on_the_last_failure(store: Store) -> None:
    store.enqueue([make(max_attempts=2)])
    for _ in range(2):
        [job] = store.claim(None, "w", 1, LEASE)
        again_at = time.time() if job.attempts == 1 else None
        store.fail(job.id, job.token, f"E: attempt {job.attempts}", again_at)
    before = time.time()
    assert store.retry(job.id)
    got = store.get(job.id)
    assert got is not None and got.failures[0].retried_at is None
    marked = got.failures[-1].retried_at
    assert marked is not None and before <= marked <= time.time()
    assert [(f.attempt, f.error) for f in got.failures] == [
        (1, "E: attempt 1"),
        (2, "E: attempt 2"),
    ]
    [again] = store.claim(None, "w", 1, LEASE)
    store.fail(again.id, again.token, "E: after retry", None)
    assert store.retry(job.id)  # a second retry marks the newest failure, once
    last = store.get(job.id)
    assert last is not None and [f.retried_at is not None for f in last.failures] == [
        False,
        True,
        True,
    ]
    assert last.failures[1].retried_at == marked and last.failures[2].retried_at != marked


def test_counts_per_queue_and_status(store: Store) -> None:
    store.enqueue(
        [
            make(queue="a"),
            make(queue="a"),
            make(queue="b"),
            make(queue="b", run_at=time.time() + 60),
        ]
    )
    [job] = store.claim(["a"], "w", 1, LEASE)
    store.complete(job.id, job.token, None)
    assert store.counts() == {
        "a": {JobStatus.QUEUED: 1, JobStatus.SUCCEEDED: 1},
        "b": {JobStatus.QUEUED: 1, JobStatus.SCHEDULED: 1},
    }


def test_list_jobs_filters_newest_first_and_pages(store: Store) -> None:
    records = [make("x" if i % 2 else "y", queue="q1" if i < 6 else "q2") for i in range(10)]
    for r in records:
        store.enqueue([r])
    ids = [r.id for r in reversed(records)]
    assert [r.id for r in store.list_jobs(limit=100)] == ids
    assert [r.id for r in store.list_jobs(limit=3, offset=2)] == ids[2:5]
    assert [r.id for r in store.list_jobs(task="x", queue="q1")] == [
        r.id for r in reversed(records[:6]) if r.task == "x"
    ]
    [job] = store.claim(None, "w", 1, LEASE)
    assert [r.id for r in store.list_jobs(status=JobStatus.RUNNING)] == [job.id]
    assert len(store.list_jobs(status=JobStatus.QUEUED, limit=100)) == 9


def test_purge_deletes_only_finished_jobs(store: Store) -> None:
    store.enqueue([make() for _ in range(4)])
    a, b, c = store.claim(None, "w", 3, LEASE)
    store.complete(a.id, a.token, None)
    store.fail(b.id, b.token, "E: x", None)
    assert store.purge(statuses=[JobStatus.SUCCEEDED], older_than=time.time() - 60) == 0
    assert store.purge(statuses=[JobStatus.SUCCEEDED]) == 1
    assert store.get(a.id) is None and store.get(b.id) is not None
    assert store.purge() == 1
    assert store.get(c.id) is not None  # running: untouched
    with pytest.raises(ValueError, match="finished"):
        store.purge(statuses=[JobStatus.QUEUED])
    assert sum(n for q in store.counts().values() for n in q.values()) == 2


def test_prune_drops_results_past_their_ttl(store: Store) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    store.complete(job.id, job.token, None)
    store.result_ttl = 3600
    assert store.prune(time.time()) == 0
    assert store.prune(time.time() + 3601) == 1
    assert store.get(job.id) is None


def test_wait_for_work_wakes_on_enqueue_and_times_out(store: Store) -> None:
    started = time.monotonic()
    store.wait_for_work(None, 0.2)
    assert time.monotonic() - started >= 0.15

    def later() -> None:
        time.sleep(0.1)
        store.enqueue([make()])

    thread = threading.Thread(target=later)
    thread.start()
    # woken, not timed out: the bounds sit far below the timeout, so a busy machine passes
    started = time.monotonic()
    store.wait_for_work(None, 30.0)
    waited = time.monotonic() - started
    thread.join()
    assert waited < 15.0
    started = time.monotonic()
    store.wait_for_work(None, 30.0)  # work is due: no wait
    assert time.monotonic() - started < 15.0


def test_stop_waiting_ends_a_wait_for_work_at_once_and_every_later_one(store: Store) -> None:
    # a worker told to stop must not sit out its idle wait (the 60 s here) first
    ended = threading.Event()

    def wait() -> None:
        store.wait_for_work(None, 60.0)
        ended.set()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    assert not ended.wait(0.3)  # nothing is due: it waits
    store.stop_waiting()
    assert ended.wait(10), "wait_for_work sat out its timeout after stop_waiting()"
    started = time.monotonic()
    store.wait_for_work(None, 60.0)  # stopping: no wait at all
    assert time.monotonic() - started < 10


def test_wait_for_work_returns_when_a_scheduled_job_comes_due(store: Store) -> None:
    store.enqueue([make(run_at=time.time() + 0.2)])
    started = time.monotonic()
    store.wait_for_work(None, 30.0)
    assert time.monotonic() - started < 15.0


def test_worker_registry(store: Store) -> None:
    now = time.time()
    store.record_worker(WorkerInfo("w1", "host", 10, now, now, ("default",), ("j1",)))
    store.record_worker(WorkerInfo("w2", "host", 11, now, now - 600, (), ()))
    store.record_worker(WorkerInfo("w1", "host", 10, now, now + 1, ("default",), ()))
    workers = store.list_workers(alive_since=now - 60)
    assert [(w.id, w.jobs, w.queues) for w in workers] == [("w1", (), ("default",))]
    store.remove_worker("w1")
    assert store.list_workers(alive_since=0) == []


def test_finished_statuses_are_final_for_claims(store: Store) -> None:
    store.enqueue([make(max_attempts=1) for _ in range(3)])
    jobs = store.claim(None, "w", 3, LEASE)
    store.complete(jobs[0].id, jobs[0].token, None)
    store.fail(jobs[1].id, jobs[1].token, "E", None)
    store.cancel(jobs[2].id)
    store.fail(jobs[2].id, jobs[2].token, "E", time.time())
    assert {store.get(j.id).status for j in jobs} == FINISHED  # type: ignore[union-attr]
    assert claim_all(store) == []


def test_claim_order_follows_due_time_before_enqueue_order(store: Store) -> None:
    now = time.time()
    store.enqueue([make("due-later", run_at=now - 1), make("due-first", run_at=now - 5)])
    assert claim_all(store) == ["due-first", "due-later"]


def test_jobs_due_at_the_same_time_are_claimed_together_in_enqueue_order(store: Store) -> None:
    due = time.time() - 1
    for start in (0, 5, 10):  # separate enqueues as well as batches
        store.enqueue([make(f"j{i:02}", run_at=due, priority=2) for i in range(start, start + 5)])
    store.enqueue([make("other", run_at=due - 10, priority=2)])  # due earlier: claimed first
    assert claim_all(store, limit=6) == ["other", "j00", "j01", "j02", "j03", "j04"]
    assert claim_all(store, limit=20) == [f"j{i:02}" for i in range(5, 15)]


def test_complete_and_claim_is_fenced_and_hands_out_the_next_job(store: Store) -> None:
    store.enqueue([make("a"), make("b"), make("c")])
    [a] = store.claim(None, "w", 1, LEASE)
    done, [b] = store.complete_and_claim([Done(a.id, a.token, '"A"')], None, "w", 1, LEASE)
    assert done == [True] and b.task == "b" and b.status is JobStatus.RUNNING
    assert b.attempts == 1
    assert store.get(a.id).result == '"A"'  # type: ignore[union-attr]
    stale, [c] = store.complete_and_claim([Done(a.id, a.token, '"again"')], None, "w", 1, LEASE)
    assert stale == [False] and c.task == "c"
    assert store.get(a.id).result == '"A"'  # type: ignore[union-attr]
    done, rest = store.complete_and_claim([Done(b.id, b.token, None)], ["other"], "w", 1, LEASE)
    assert done == [True] and rest == []


def test_complete_and_claim_records_a_batch_and_claims_a_batch(store: Store) -> None:
    store.enqueue([make(f"j{i}") for i in range(7)])
    first = store.claim(None, "w", 3, LEASE)
    assert [r.task for r in first] == ["j0", "j1", "j2"]
    stale = Done(first[0].id, first[0].token + 1, None)  # not the current attempt's token
    batch = [
        stale,
        Done(first[1].id, first[1].token, '"one"'),
        Done(first[2].id, first[2].token, None),
    ]
    accepted, nxt = store.complete_and_claim(batch, None, "w", 3, LEASE)
    assert accepted == [False, True, True]
    assert [r.task for r in nxt] == ["j3", "j4", "j5"]
    assert store.get(first[0].id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    assert store.get(first[1].id).result == '"one"'  # type: ignore[union-attr]
    # recording alone (limit 0) claims nothing; claiming alone records nothing
    accepted, none = store.complete_and_claim(
        [Done(r.id, r.token, None) for r in nxt], None, "w", 0, LEASE
    )
    assert accepted == [True, True, True] and none == []
    assert store.counts()["default"][JobStatus.QUEUED] == 1
    assert store.complete_and_claim([], None, "w", 0, LEASE) == ([], [])
    assert [r.task for r in store.complete_and_claim([], None, "w", 5, LEASE)[1]] == ["j6"]


def test_every_record_a_store_reads_has_every_field_and_nothing_else(store: Store) -> None:
    # stores build records without __init__ (JobRecord.stored), which would not notice one
    # left out: each way of reading a job must still give the record __init__ would make
    names = {f.name for f in fields(JobRecord)}
    store.enqueue([make(f"j{i}") for i in range(3)])
    [first] = store.claim(None, "w", 1, LEASE)
    _, claimed = store.complete_and_claim([Done(first.id, first.token, '"r"')], None, "w", 2, LEASE)
    assert store.fail(claimed[0].id, claimed[0].token, "ValueError: x", time.time() + 60)
    got = [store.get(r.id, light=light) for r in (first, *claimed) for light in (False, True)]
    read = [first, *claimed, *store.list_jobs(), *got]
    for record in read:
        assert record is not None and vars(record).keys() == names
        assert replace(record) == record  # __init__, field by field
    failed = store.get(claimed[0].id)
    assert failed is not None and [f.error for f in failed.failures] == ["ValueError: x"]
    assert (first.failures, first.depends_on, first.progress) == ((), (), None)


def test_end_attempts_applies_each_ending_fenced_by_its_token(store: Store) -> None:
    store.enqueue([make("a", max_attempts=3), make("b"), make("c")])
    a, b, c = store.claim(None, "w", 3, LEASE)
    due = time.time() + 60
    retried = policy.failed(a.id, a.token, "E: one", due)
    stale = policy.failed(b.id, b.token + 1, "E: stale", None)
    back = policy.handed_back(c.id, c.token)
    assert store.end_attempts([retried, stale, back]) == [
        JobStatus.QUEUED,
        None,
        JobStatus.QUEUED,
    ]
    got_a, got_b, got_c = (store.get(r.id) for r in (a, b, c))
    assert got_a is not None and got_a.status is JobStatus.SCHEDULED
    assert got_a.run_at == pytest.approx(due) and got_a.attempts == 1
    assert [(f.attempt, f.error) for f in got_a.failures] == [(1, "E: one")]
    assert got_a.lease_until is None and got_a.finished_at is None
    assert got_b is not None and got_b.status is JobStatus.RUNNING and not got_b.failures
    assert got_c is not None and got_c.status is JobStatus.QUEUED and got_c.attempts == 0
    assert not got_c.failures and got_c.error is None
    assert store.end_attempts([]) == []


def test_an_ending_is_recorded_at_its_exact_time(store: Store) -> None:
    store.enqueue([make(max_attempts=1)])
    [job] = store.claim(None, "w", 1, LEASE)
    at = time.time() + 0.123456789  # every digit of the float must survive the store
    ending = replace(policy.failed(job.id, job.token, "E: last", None), at=at)
    assert store.end_attempts([ending]) == [JobStatus.FAILED]
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.FAILED and got.error == "E: last"
    assert got.finished_at == at and got.lease_until is None
    assert [(f.attempt, f.at, f.error) for f in got.failures] == [(1, at, "E: last")]


def test_an_ending_takes_its_cancel_branch_when_cancel_was_requested(store: Store) -> None:
    store.enqueue([make(max_attempts=5), make()])
    a, b = store.claim(None, "w", 2, LEASE)
    store.cancel(a.id)
    store.cancel(b.id)
    retry = policy.failed(a.id, a.token, "E: x", time.time())
    ended = store.end_attempts([retry, policy.handed_back(b.id, b.token)])
    assert ended == [JobStatus.CANCELLED, JobStatus.CANCELLED]
    for job in (store.get(a.id), store.get(b.id)):
        assert job is not None and job.status is JobStatus.CANCELLED and job.finished_at
    assert claim_all(store) == []


def test_a_lapse_ending_is_refused_once_the_lease_was_renewed(store: Store) -> None:
    store.enqueue([make(max_attempts=3)])
    [job] = store.claim(None, "w", 1, 0.01)
    [lapsed] = wait_until(lambda: store.lapsed(time.time(), 10))
    assert lapsed.id == job.id and lapsed.token == job.token
    ending = policy.after_lapse(lapsed, time.time())
    store.heartbeat("w", {job.id: job.token}, LEASE)  # the worker was only slow
    assert store.end_attempts([ending]) == [None]
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.RUNNING and not got.failures
    assert store.lapsed(time.time(), 10) == []


def test_lapsed_lists_running_jobs_past_their_lease_earliest_first(store: Store) -> None:
    store.enqueue([make("late"), make("early"), make("held"), make("waiting")])
    [late] = store.claim(None, "w", 1, 0.2)
    [early] = store.claim(None, "w", 1, 0.01)
    store.claim(None, "w", 1, LEASE)

    def both_lapsed() -> list[JobRecord]:
        found = store.lapsed(time.time(), 10)
        return found if len(found) == 2 else []

    found = wait_until(both_lapsed)
    assert [r.id for r in found] == [early.id, late.id]
    assert all(r.status is JobStatus.RUNNING for r in found)
    assert [r.id for r in store.lapsed(time.time(), 1)] == [early.id]


def test_an_unknown_task_ending_gives_the_attempt_back_with_a_note_and_no_failure(
    store: Store,
) -> None:
    record = make("elsewhere.task", max_attempts=2)
    store.enqueue([record])
    [job] = store.claim(None, "w", 1, LEASE)
    ending = policy.unknown_task(job.id, job.token, job.task, job.worker_id)
    assert store.end_attempts([ending]) == [JobStatus.QUEUED]
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.SCHEDULED  # due again later
    assert got.attempts == 0 and got.failures == () and got.error == ending.error
    assert got.run_at == pytest.approx(ending.run_at)
    assert claim_all(store) == []  # not due again at once
