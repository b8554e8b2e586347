"""Job logs in the store: appended in batches, numbered per job, read back by attempt or
after a number, and gone with their job, on every backend."""

from __future__ import annotations

import threading
import time

from backburner.job import JobStatus
from backburner.logs import LogLine
from backburner.stores import Store, open_store

from .records import make

LEASE = 30.0


def line(
    message: str, attempt: int = 1, stream: str = "stdout", level: str | None = None
) -> LogLine:
    return LogLine(time.time(), attempt, stream, level, message)


def test_lines_come_back_numbered_in_order_with_every_field(store: Store) -> None:
    job = make()
    store.enqueue([job])
    at = 1_700_000_000.123456
    store.append_logs(
        {job.id: [LogLine(at, 1, "stdout", None, "hello"), line("oops", stream="stderr")]}
    )
    store.append_logs({job.id: [line("careful", stream="log", level="WARNING")]})
    got = store.logs(job.id)
    assert [(x.seq, x.stream, x.level, x.message) for x in got] == [
        (1, "stdout", None, "hello"),
        (2, "stderr", None, "oops"),
        (3, "log", "WARNING", "careful"),
    ]
    assert got[0] == LogLine(at, 1, "stdout", None, "hello", seq=1)


def test_readers_resume_after_the_last_number_they_saw(store: Store) -> None:
    job = make()
    store.enqueue([job])
    store.append_logs({job.id: [line(f"l{i}") for i in range(5)]})
    assert [x.message for x in store.logs(job.id, after=3)] == ["l3", "l4"]
    assert store.logs(job.id, after=5) == []
    store.append_logs({job.id: [line("l5")]})
    assert [(x.seq, x.message) for x in store.logs(job.id, after=5)] == [(6, "l5")]


def test_attempts_are_kept_apart(store: Store) -> None:
    job = make()
    store.enqueue([job])
    store.append_logs({job.id: [line("first", 1), line("first again", 1)]})
    store.append_logs({job.id: [line("second", 2)]})
    assert [x.message for x in store.logs(job.id, attempt=1)] == ["first", "first again"]
    assert [(x.seq, x.message) for x in store.logs(job.id, attempt=2)] == [(3, "second")]
    assert [x.message for x in store.logs(job.id, attempt=2, after=3)] == []
    assert store.logs(job.id, attempt=3) == []


def test_one_call_appends_to_several_jobs(store: Store) -> None:
    a, b = make(), make()
    store.enqueue([a, b])
    store.append_logs({a.id: [line("a1"), line("a2")], b.id: [line("b1")]})
    assert [(x.seq, x.message) for x in store.logs(a.id)] == [(1, "a1"), (2, "a2")]
    assert [(x.seq, x.message) for x in store.logs(b.id)] == [(1, "b1")]


def test_lines_of_unknown_jobs_are_dropped_and_unknown_jobs_have_no_lines(store: Store) -> None:
    job = make()
    store.enqueue([job])
    store.append_logs({"no-such-job": [line("lost")], job.id: [line("kept")]})
    assert store.logs("no-such-job") == []
    assert [x.message for x in store.logs(job.id)] == ["kept"]
    store.append_logs({})
    store.append_logs({job.id: []})
    assert len(store.logs(job.id)) == 1


def test_text_of_every_kind_round_trips(store: Store) -> None:
    job = make()
    store.enqueue([job])
    texts = ["", "tab\there", "\x1b[31mred\x1b[0m", "é ✓ 日本", "multi\nline", "x" * 100_000]
    store.append_logs({job.id: [line(t) for t in texts]})
    assert [x.message for x in store.logs(job.id)] == texts


def test_purge_and_prune_delete_the_log_with_its_job(store: Store) -> None:
    done, kept, pruned = make(), make(), make()
    store.enqueue([done, kept, pruned])
    store.append_logs({j.id: [line("x")] for j in (done, kept, pruned)})
    for record in store.claim(None, "w", 3, LEASE):
        if record.id != kept.id:
            store.complete(record.id, record.token, None)
    assert store.purge(statuses=[JobStatus.SUCCEEDED], older_than=None) == 2
    assert store.logs(done.id) == [] and store.logs(pruned.id) == []
    assert [x.message for x in store.logs(kept.id)] == ["x"]
    store.append_logs({done.id: [line("after purge")]})  # a late flush of a purged job
    assert store.logs(done.id) == []


def test_prune_past_the_ttl_takes_the_log_too(store: Store) -> None:
    job = make()
    store.enqueue([job])
    store.append_logs({job.id: [line("x")]})
    [claimed] = store.claim(None, "w", 1, LEASE)
    store.complete(claimed.id, claimed.token, None)
    store.result_ttl = 60
    assert store.prune(time.time() + 61) == 1
    assert store.logs(job.id) == []


def test_concurrent_appenders_never_reuse_a_number(shared_url: str) -> None:
    # a lapsed attempt's worker may still write while the next attempt does
    job = make()
    stores = [open_store(shared_url) for _ in range(4)]
    stores[0].enqueue([job])

    def append(store: Store, name: str) -> None:
        for i in range(20):
            store.append_logs({job.id: [line(f"{name}{i}"), line(f"{name}{i}b")]})

    threads = [threading.Thread(target=append, args=(s, f"t{n}")) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = stores[0].logs(job.id)
    assert [x.seq for x in got] == list(range(1, 161))
    for name in ("t0", "t1", "t2", "t3"):  # each batch stays whole and in order
        mine = [x for x in got if x.message.startswith(name)]
        assert [x.message for x in mine] == [f"{name}{i}{s}" for i in range(20) for s in ("", "b")]
        assert all(b.seq == a.seq + 1 for a, b in zip(mine[::2], mine[1::2]))
    for s in stores:
        s.close()
