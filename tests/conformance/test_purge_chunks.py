"""Purge and result expiry delete in chunks on the server stores (so no statement or
script holds the store for long); here the chunks are a handful of jobs, so a purge
takes many of them, and every chunk must skip what it may not delete."""

from __future__ import annotations

import time

import pytest

from backburner.job import JobStatus
from backburner.stores import Store

from .records import make, wait_until

LEASE = 30.0
CHUNK = 7
# where each store keeps its chunk size (memory:// deletes in one pass, under its lock)
CHUNK_SIZES = {
    "sqlite": ("backburner.stores.sqlite", "PURGE_BATCH"),
    "postgres": ("backburner.stores.postgres_purge", "_PURGE_BATCH"),
    "redis": ("backburner.stores.redis", "_BATCH"),  # the claim's batch too: claim in a loop
}


@pytest.fixture
def chunked(store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    for kind, (module, name) in CHUNK_SIZES.items():
        if store_url.startswith(kind):
            monkeypatch.setattr(f"{module}.{name}", CHUNK)
    return store


def finish(store: Store, count: int) -> list[str]:
    """Claim `count` queued jobs and end them: most succeed, every fifth fails."""
    ended: list[str] = []
    while len(ended) < count:
        claimed = store.claim(None, "w", count - len(ended), LEASE)
        assert claimed, f"only {len(ended)} of {count} jobs could be claimed"
        for i, job in enumerate(claimed, len(ended)):
            if i % 5 == 4:
                assert store.fail(job.id, job.token, "E: x", None)
            else:
                assert store.complete(job.id, job.token, None)
            ended.append(job.id)
    return ended


def test_a_purge_of_many_chunks_deletes_every_finished_job_and_nothing_else(
    chunked: Store,
) -> None:
    store = chunked
    store.enqueue([make() for _ in range(20)])
    needed = make()
    store.enqueue([needed])  # between the others: chunks must pass over it
    store.enqueue([make() for _ in range(20)])
    finish(store, 41)
    blocker = make(queue="later")
    dependent = make(depends_on=(needed.id, blocker.id))
    pending = [make(queue="later") for _ in range(3)]
    store.enqueue([blocker, dependent, *pending])
    assert store.get(dependent.id).status is JobStatus.WAITING  # type: ignore[union-attr]
    assert store.purge() == 40
    assert store.get(needed.id) is not None  # its dependent has not run: it keeps it
    assert store.counts() == {
        "default": {JobStatus.SUCCEEDED: 1, JobStatus.WAITING: 1},
        "later": {JobStatus.QUEUED: 4},
    }


def test_expiry_in_chunks_deletes_only_what_finished_before_the_cutoff(chunked: Store) -> None:
    store = chunked
    store.enqueue([make() for _ in range(30)])
    early = finish(store, 25)
    cutoff = time.time()
    wait_until(lambda: time.time() > cutoff)  # what ends now ends after the cutoff
    late = finish(store, 5)
    assert store.purge(older_than=cutoff) == 25
    assert all(store.get(job_id) is None for job_id in early)
    assert all(store.get(job_id) is not None for job_id in late)
    store.result_ttl = 60
    assert store.prune(time.time()) == 0
    assert store.prune(time.time() + 61) == 5
    assert store.counts() == {}
