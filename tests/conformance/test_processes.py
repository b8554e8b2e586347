"""Store guarantees under real concurrency: several processes sharing one store."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from typing import Any

from backburner.job import JobStatus
from backburner.stores import open_store

from .records import make

PROCESSES = 4
JOBS = 2000


def _claimer(url: str, name: str, start: Any, out: Any) -> None:
    store = open_store(url)
    start.wait()
    mine = []
    while batch := store.claim(None, name, 10, 60.0):
        for job in batch:
            assert store.complete(job.id, job.token, None)
            mine.append(job.id)
    out.put(mine)
    store.close()


def _run_all(target: Any, args_for: Any) -> list[Any]:
    ctx = mp.get_context("fork")
    start = ctx.Barrier(PROCESSES)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(i), start, out)) for i in range(PROCESSES)]
    for p in procs:
        p.start()
    results: list[Any] = []
    deadline = time.monotonic() + 240
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            failed = [p.name for p in procs if p.exitcode not in (None, 0)]
            assert not failed, f"{failed} died; see the captured stderr"
            assert time.monotonic() < deadline, "processes did not finish in 240 s"
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, f"{p.name} exited {p.exitcode}"
    return results


def test_racing_processes_claim_each_job_exactly_once(shared_url: str) -> None:
    store = open_store(shared_url)
    records = [make(f"t{i}") for i in range(JOBS)]
    for i in range(0, JOBS, 500):
        store.enqueue(records[i : i + 500])
    results = _run_all(_claimer, lambda i: (shared_url, f"w{i}"))
    claimed = [job_id for batch in results for job_id in batch]
    assert len(claimed) == JOBS, f"{len(claimed) - len(set(claimed))} claimed twice"
    assert set(claimed) == {r.id for r in records}
    assert sum(1 for batch in results if batch) >= 2, "no race: one process took everything"
    assert store.counts() == {"default": {JobStatus.SUCCEEDED: JOBS}}
    store.close()


def _producer(url: str, index: int, start: Any, out: Any) -> None:
    store = open_store(url)
    start.wait()
    ids = []
    for n in range(JOBS // PROCESSES):
        record = make(f"p{index}-{n}")
        [job_id] = store.enqueue([record])
        ids.append(job_id)
    out.put(ids)
    store.close()


def test_concurrent_enqueue_from_several_processes_loses_nothing(shared_url: str) -> None:
    results = _run_all(_producer, lambda i: (shared_url, i))
    ids = {job_id for batch in results for job_id in batch}
    assert len(ids) == JOBS
    store = open_store(shared_url)
    assert store.counts() == {"default": {JobStatus.QUEUED: JOBS}}
    stored = {r.id for r in store.list_jobs(limit=JOBS + 10)}
    assert stored == ids
    store.close()


def _enqueues_one_by_one(store: Any, queue: str, n: int = 200) -> bool:
    """Enqueue `n` jobs in `n` calls, each answered with its own job's id: calls sharing a
    connection with another process's would soon read a reply meant for the other."""
    records = [make(queue, queue=queue) for _ in range(n)]
    return all(store.enqueue([r]) == [r.id] for r in records)


def _use_inherited(store: Any, start: Any, out: Any) -> None:
    """In a forked child: use the store object the parent opened and used, then close it."""
    store.wait_for_work(["idle"], 0.01)
    jobs = store.claim(["default"], "c", 10, 60.0)
    completed = [store.complete(j.id, j.token, None) for j in jobs]
    start.wait()
    out.put((completed, _enqueues_one_by_one(store, "child")))
    store.close()  # the child's own connections only, never the parent's


def test_a_store_used_before_fork_works_in_the_child_and_in_the_parent(shared_url: str) -> None:
    store = open_store(shared_url)
    store.enqueue([make("a"), make("b")])
    store.wait_for_work(["idle"], 0.01)  # the parent holds connections and waits' sockets
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(2), ctx.Queue()
    child = ctx.Process(target=_use_inherited, args=(store, start, out))
    child.start()
    start.wait(timeout=60)
    assert _enqueues_one_by_one(store, "parent")  # while the child uses its copy
    completed, child_ok = out.get(timeout=60)
    child.join(timeout=30)
    assert child.exitcode == 0 and completed == [True, True] and child_ok
    # the child closed its store: the parent's connections still work
    for job in store.claim(["child"], "p", 500, 60.0):
        assert store.complete(job.id, job.token, None)
    assert store.counts() == {
        "default": {JobStatus.SUCCEEDED: 2},
        "child": {JobStatus.SUCCEEDED: 200},
        "parent": {JobStatus.QUEUED: 200},
    }
    store.close()
