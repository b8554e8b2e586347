"""The dashboard's store calls on every backend: finding jobs by filter and search with
keyset pages and a bounded scan, counting with a cap, deleting finished jobs, history
counts summed across writers, and the audit log."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import pytest

from backburner import policy
from backburner.job import JobRecord, JobStatus
from backburner.logs import LogLine
from backburner.stores import AuditEntry, HistoryPoint, JobFilter, Store, open_store

from .records import make


def enqueue(store: Store, *records: JobRecord) -> list[JobRecord]:
    store.enqueue(records)
    return list(records)


def finish(store: Store, record: JobRecord, status: JobStatus) -> None:
    """Take `record` (the only due job of its queue) to `status`."""
    if status is JobStatus.CANCELLED:
        assert store.cancel(record.id)
        return
    [claimed] = store.claim([record.queue], "w", 1, 30.0)
    assert claimed.id == record.id
    if status is JobStatus.SUCCEEDED:
        assert store.complete(claimed.id, claimed.token, None)
    else:
        ending = policy.failed(claimed.id, claimed.token, "Boom: no", None)
        assert store.end_attempts([ending]) == [JobStatus.FAILED]


def ids(store: Store, filter: JobFilter, limit: int = 50) -> list[str]:
    page = store.find_jobs(filter, limit=limit)
    assert page.scanned is None
    return [j.id for j in page.jobs]


def test_filters_by_status_queue_and_task_newest_first(store: Store) -> None:
    now = time.time()
    a = make("mail.send", queue="qa")
    b = make("mail.send", queue="qb")
    c = make("report.build", queue="qa")
    later = make("report.build", queue="qb", run_at=now + 3600)
    done, failed, cancelled = (make("x", queue=q) for q in ("qs", "qf", "qc"))
    enqueue(store, a, b, c, later, done, failed, cancelled)
    finish(store, done, JobStatus.SUCCEEDED)
    finish(store, failed, JobStatus.FAILED)
    finish(store, cancelled, JobStatus.CANCELLED)

    everything = [cancelled, failed, done, later, c, b, a]
    assert ids(store, JobFilter()) == [r.id for r in everything]
    assert ids(store, JobFilter(status=JobStatus.QUEUED)) == [c.id, b.id, a.id]
    assert ids(store, JobFilter(status=JobStatus.SCHEDULED)) == [later.id]
    assert ids(store, JobFilter(status=JobStatus.SUCCEEDED)) == [done.id]
    assert ids(store, JobFilter(status=JobStatus.FAILED)) == [failed.id]
    assert ids(store, JobFilter(status=JobStatus.CANCELLED)) == [cancelled.id]
    assert ids(store, JobFilter(queue="qa")) == [c.id, a.id]
    assert ids(store, JobFilter(task="mail.send")) == [b.id, a.id]
    assert ids(store, JobFilter(task="report.build", queue="qb")) == [later.id]
    assert ids(store, JobFilter(status=JobStatus.QUEUED, queue="qb")) == [b.id]
    assert ids(store, JobFilter(queue="nowhere")) == []
    got = store.find_jobs(JobFilter(status=JobStatus.FAILED)).jobs[0]
    assert got.status is JobStatus.FAILED and got.error is not None
    assert got.payload == "" and got.failures == ()  # light records


def test_search_finds_an_id_a_task_or_argument_text(store: Store) -> None:
    x = make("billing.charge", payload='[["customer-4711"],{"amount":12}]')
    y = make("mail.send", payload='[[],{"to":"Ada@example.com"}]')
    z = make("mail.digest", payload='[["billing"],{}]')
    enqueue(store, x, y, z)
    assert ids(store, JobFilter(search=x.id)) == [x.id]
    assert ids(store, JobFilter(search="customer-4711")) == [x.id]
    assert ids(store, JobFilter(search="Ada@")) == [y.id]
    assert ids(store, JobFilter(search="ada@")) == []  # case-sensitive
    assert ids(store, JobFilter(search="mail.")) == [z.id, y.id]
    assert ids(store, JobFilter(search="billing")) == [z.id, x.id]  # argument or task
    assert ids(store, JobFilter(search="billing", task="mail.digest")) == [z.id]
    assert ids(store, JobFilter(search='"amount":12')) == [x.id]
    assert ids(store, JobFilter(search="100%_")) == []  # no wildcards
    assert ids(store, JobFilter(search=x.id, status=JobStatus.FAILED)) == []


def test_pages_follow_the_cursor_without_duplicates_or_gaps(store: Store) -> None:
    first = [make(f"t{i}", queue="pages") for i in range(25)]
    store.enqueue(first)
    seen: list[str] = []
    page = store.find_jobs(JobFilter(queue="pages"), limit=10)
    pages = 1
    while True:
        assert page.scanned is None
        seen += [j.id for j in page.jobs]
        store.enqueue([make("newer", queue="pages")])  # shifts nothing already paged
        if page.after is None:
            break
        page = store.find_jobs(JobFilter(queue="pages"), after=page.after, limit=10)
        pages += 1
    assert seen == [r.id for r in reversed(first)]
    assert pages == 3
    page = store.find_jobs(JobFilter(queue="pages"), limit=3)
    assert [j.task for j in page.jobs] == ["newer"] * 3
    exact = store.find_jobs(JobFilter(queue="pages", task="newer"), limit=3)
    assert len(exact.jobs) == 3 and exact.after is None  # a full last page says so


def test_a_search_stops_at_the_scan_limit_and_resumes_from_its_cursor(store: Store) -> None:
    needles = [make("t", payload='[["needle"],{}]') for _ in range(3)]
    store.enqueue(needles)
    store.enqueue([make("t") for _ in range(30)])
    store.scan_limit = 10
    found: list[str] = []
    page = store.find_jobs(JobFilter(search="needle"))
    assert page.jobs == [] and page.scanned == 10 and page.after is not None
    calls = 1
    while page.after is not None:
        page = store.find_jobs(JobFilter(search="needle"), after=page.after)
        found += [j.id for j in page.jobs]
        calls += 1
        assert calls < 10
    assert found == [r.id for r in reversed(needles)]


def test_a_backlog_of_newer_queued_jobs_hides_no_job_of_another_status(store: Store) -> None:
    # the dashboard's tiles link to each status: a large backlog, newer than the running,
    # scheduled, waiting and finished jobs, must not push them out of a bounded walk
    now = time.time()
    done, running = make("x", queue="done"), make("x", queue="busy")
    later, dep = make("x", queue="later", run_at=now + 3600), make("x", queue="later")
    enqueue(store, done, running, later, dep)
    finish(store, done, JobStatus.SUCCEEDED)
    [claimed] = store.claim(["busy"], "w", 1, 30.0)
    waiting = make("x", queue="later", depends_on=(later.id,))
    enqueue(store, waiting)
    store.enqueue([make("backlog") for _ in range(30)])
    store.scan_limit = 10
    assert ids(store, JobFilter(status=JobStatus.SUCCEEDED)) == [done.id]
    assert ids(store, JobFilter(status=JobStatus.RUNNING)) == [claimed.id]
    assert ids(store, JobFilter(status=JobStatus.SCHEDULED)) == [later.id]
    assert ids(store, JobFilter(status=JobStatus.WAITING)) == [waiting.id]
    assert store.count_jobs(JobFilter(status=JobStatus.SCHEDULED), 10) == 1


def test_more_scheduled_jobs_than_the_scan_limit_are_found_by_cursor_or_said_to_be_left(
    store: Store,
) -> None:
    # the newest due last: a look at the soonest due (Redis's scheduled sets) misses them
    now = time.time()
    later = [make("t", queue="later", run_at=now + 3600 + i) for i in range(15)]
    store.enqueue(later)
    store.scan_limit = 10
    seen: list[str] = []
    page = store.find_jobs(JobFilter(status=JobStatus.SCHEDULED))
    for _ in range(10):
        seen += [j.id for j in page.jobs]
        if page.after is None:
            break
        assert page.scanned is not None, "a short page with more to come says how far it looked"
        page = store.find_jobs(JobFilter(status=JobStatus.SCHEDULED), after=page.after)
    assert seen == [r.id for r in reversed(later)]


def test_a_bounded_search_pages_through_deleted_jobs_without_gaps(store: Store) -> None:
    jobs = [make("t", queue="holes", payload=f'[["item-{i}"],{{}}]') for i in range(40)]
    store.enqueue(jobs)
    doomed = jobs[::3]
    for record in doomed:
        finish(store, record, JobStatus.CANCELLED)
    assert store.delete_jobs([r.id for r in doomed]) == len(doomed)
    store.scan_limit = 7
    kept = [r.id for r in reversed(jobs) if r not in doomed]
    for limit in (1, 4, 50):
        seen: list[str] = []
        page = store.find_jobs(JobFilter(search="item-"), limit=limit)
        for _ in range(100):
            seen += [j.id for j in page.jobs]
            assert page.scanned is None or 0 <= page.scanned <= 7
            if page.after is None:
                break
            page = store.find_jobs(JobFilter(search="item-"), after=page.after, limit=limit)
        assert seen == kept, f"limit {limit}"


def test_count_stops_at_the_cap(store: Store) -> None:
    store.enqueue([make("c", queue="count") for _ in range(12)])
    store.enqueue([make("d", queue="other") for _ in range(3)])
    assert store.count_jobs(JobFilter(queue="count"), 5) == 5
    assert store.count_jobs(JobFilter(queue="count"), 100) == 12
    assert store.count_jobs(JobFilter(), 1000) == 15
    assert store.count_jobs(JobFilter(task="d", status=JobStatus.QUEUED), 10) == 3
    assert store.count_jobs(JobFilter(status=JobStatus.FAILED), 10) == 0
    assert store.count_jobs(JobFilter(search="d"), 10) == 3


def test_delete_takes_finished_jobs_with_their_logs_and_nothing_else(store: Store) -> None:
    done, failed, pending, needed = (make("x", queue=f"q{i}") for i in range(4))
    enqueue(store, done, failed, pending, needed)
    waiter = make("after", depends_on=(needed.id,))
    enqueue(store, waiter)
    finish(store, done, JobStatus.SUCCEEDED)
    finish(store, failed, JobStatus.FAILED)
    finish(store, needed, JobStatus.SUCCEEDED)
    store.append_logs({done.id: [LogLine(time.time(), 1, "stdout", None, "bye")]})
    assert store.get(waiter.id, light=True).status is JobStatus.QUEUED  # type: ignore[union-attr]

    deleted = store.delete_jobs([done.id, failed.id, pending.id, "no-such-job", done.id])
    assert deleted == 2
    assert store.get(done.id) is None and store.get(failed.id) is None
    assert store.logs(done.id) == []
    assert store.get(pending.id) is not None
    # a finished job whose dependent has not finished stays (it may need the result)
    assert store.delete_jobs([needed.id]) == 0
    assert store.get(needed.id) is not None
    assert store.delete_jobs([]) == 0


def test_history_adds_up_and_reads_back_oldest_first(store: Store) -> None:
    m = 1_800_000_000.0 - 1_800_000_000.0 % 60
    store.add_history({(m, "default", "succeeded"): 3, (m + 60, "default", "failed"): 1})
    store.add_history({(m, "default", "succeeded"): 2, (m, "mail", "retried"): 4})
    store.add_history({})
    assert store.history(m) == [
        HistoryPoint(m, "default", "succeeded", 5),
        HistoryPoint(m, "mail", "retried", 4),
        HistoryPoint(m + 60, "default", "failed", 1),
    ]
    assert store.history(m + 1) == [HistoryPoint(m + 60, "default", "failed", 1)]
    assert store.prune_history(m + 60) == 2
    assert store.history(0) == [HistoryPoint(m + 60, "default", "failed", 1)]
    assert store.prune_history(m) == 0


def test_history_sums_minutes_into_steps(store: Store) -> None:
    hour = 1_800_000_000.0  # a multiple of 3600
    store.add_history(
        {
            (hour, "q", "failed"): 1,
            (hour + 60, "q", "failed"): 2,
            (hour + 3540, "q", "failed"): 4,
            (hour + 3600, "q", "failed"): 8,
            (hour + 120, "q", "succeeded"): 16,
            (hour + 60, "a", "failed"): 32,
        }
    )
    assert store.history(hour, step=3600) == [
        HistoryPoint(hour, "a", "failed", 32),
        HistoryPoint(hour, "q", "failed", 7),
        HistoryPoint(hour, "q", "succeeded", 16),
        HistoryPoint(hour + 3600, "q", "failed", 8),
    ]
    assert store.history(hour + 60, step=3600)[1] == HistoryPoint(hour, "q", "failed", 6)
    assert len(store.history(hour, step=60)) == 6
    with pytest.raises(ValueError, match="multiple of 60"):
        store.history(hour, step=90)


def _add_history(store: Store, minute: float, times: int) -> None:
    for _ in range(times):
        store.add_history({(minute, "race", "succeeded"): 1, (minute, "race", "failed"): 2})


def test_history_sums_what_threads_write_at_once(store: Store) -> None:
    minute = 1_800_000_060.0
    threads = [threading.Thread(target=_add_history, args=(store, minute, 50)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(p.outcome, p.count) for p in store.history(minute)] == [
        ("failed", 400),
        ("succeeded", 200),
    ]


def _history_writer(url: str, minute: float) -> None:
    store = open_store(url)
    _add_history(store, minute, 40)
    store.close()


def test_history_sums_what_processes_write_at_once(shared_url: str) -> None:
    minute = 1_800_000_120.0
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_history_writer, args=(shared_url, minute)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0, f"{p.name} exited {p.exitcode}"
    store = open_store(shared_url)
    assert [(p.outcome, p.count) for p in store.history(minute)] == [
        ("failed", 240),
        ("succeeded", 120),
    ]
    store.close()


def test_audit_log_newest_first_with_keyset_pages(store: Store) -> None:
    assert store.audit_log() == []
    for i in range(7):
        store.record_audit(
            AuditEntry(time.time(), "cli:ada", "retry", f"job{i}", f"d{i}", "host", seq=99)
        )
    newest = store.audit_log(limit=3)
    assert [e.target for e in newest] == ["job6", "job5", "job4"]
    assert newest[0].actor == "cli:ada" and newest[0].detail == "d6"
    assert newest[0].source == "host" and newest[0].action == "retry"
    seqs = [e.seq for e in store.audit_log()]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 7
    older = store.audit_log(limit=3, before=newest[-1].seq)
    assert [e.target for e in older] == ["job3", "job2", "job1"]
    rest = store.audit_log(limit=3, before=older[-1].seq)
    assert [e.target for e in rest] == ["job0"]
    assert store.audit_log(before=rest[-1].seq) == []


@pytest.mark.parametrize("cursor", ["nonsense", "-x"])
def test_a_bad_cursor_is_refused_clearly(store: Store, cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        store.find_jobs(JobFilter(), after=cursor)
