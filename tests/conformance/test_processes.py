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
    results = []
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
