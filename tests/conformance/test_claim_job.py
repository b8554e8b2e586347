"""`Store.claim_job`: claim one job by id (eager mode), on every backend."""

from __future__ import annotations

import time

from backburner.job import JobStatus
from backburner.stores import Store

from .records import make

LEASE = 30.0


def test_claim_job_takes_that_job_and_leaves_the_others_queued(store: Store) -> None:
    first, wanted, last = make("first", priority=5), make("wanted"), make("last")
    store.enqueue([first, wanted, last])
    claimed = store.claim_job(wanted.id, "eager", LEASE)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.attempts) == (wanted.id, JobStatus.RUNNING, 1)
    assert claimed.worker_id == "eager" and claimed.token != wanted.token
    assert [r.id for r in store.claim(None, "w", 10, LEASE)] == [first.id, last.id]
    assert store.claim_job(wanted.id, "eager", LEASE) is None, "running: not claimed twice"


def test_claim_job_refuses_a_job_not_yet_due_or_unknown(store: Store) -> None:
    later = make("later", run_at=time.time() + 3600)
    store.enqueue([later])
    assert store.claim_job(later.id, "eager", LEASE) is None
    assert store.claim_job("no-such-job", "eager", LEASE) is None
    got = store.get(later.id)
    assert got is not None and got.status is JobStatus.SCHEDULED and got.attempts == 0


def test_a_job_claimed_by_id_completes_with_its_token(store: Store) -> None:
    record = make()
    store.enqueue([record])
    claimed = store.claim_job(record.id, "eager", LEASE)
    assert claimed is not None
    assert store.complete(record.id, claimed.token, '"ok"')
    done = store.get(record.id)
    assert done is not None and (done.status, done.result) == (JobStatus.SUCCEEDED, '"ok"')
    assert store.claim(None, "w", 10, LEASE) == [], "no trace left in the claimable sets"
