"""The Redis store on a Redis Cluster of its own (tests/servers/redis_cluster.py): jobs,
a worker process and the operator's reads through `?cluster=1`, and a failover of the
primary that holds the store's slot with `wait_replicas=1` losing no acknowledged job."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner
from backburner.errors import StoreUnavailable
from backburner.job import JobStatus
from backburner.stores import open_store

from . import workerapp
from .helpers import Start, wait_until
from .servers.redis_cluster import LocalCluster, local_cluster

pytest.importorskip("redis")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path / "cluster", f"bbcluster-{uuid.uuid4().hex[:8]}") as found:
        yield found


def _not_holding(cluster: LocalCluster) -> str:
    """A store URL naming a primary that does not hold the slot: routing must find it."""
    holder = cluster.holder()
    other = next(node for node in cluster.primaries if node is not holder)
    return cluster.url(other)


def _statuses(bb: Backburner, ids: list[str]) -> set[JobStatus | None]:
    found = {job_id: bb.store.get(job_id, light=True) for job_id in ids}
    return {None if r is None else r.status for r in found.values()}


def test_jobs_run_and_every_key_lives_on_the_slot_holder(
    cluster: LocalCluster, start: Start
) -> None:
    url = _not_holding(cluster)
    bb = workerapp.build(url)
    jobs = [bb.tasks["noop"].delay() for _ in range(50)]
    assert bb.store.counts()["default"][JobStatus.QUEUED] == 50
    start(url, "-p", "1")
    ids = [job.id for job in jobs]
    wait_until(lambda: _statuses(bb, ids) == {JobStatus.SUCCEEDED}, timeout=30)
    # the operator's reads and writes go through the cluster client too
    assert len(bb.store.list_jobs(status=JobStatus.SUCCEEDED, limit=100)) == 50
    bb.store.pause("default")
    assert bb.store.paused_queues() == {"default"}
    bb.store.resume("default")
    assert bb.store.purge() == 50
    # one hash tag, one slot: the other primaries hold none of the store's keys
    holder = cluster.holder()
    for node in cluster.primaries:
        if node is not holder:
            assert cluster.client(node).dbsize() == 0


def test_a_url_without_cluster_1_names_the_option_in_its_error(cluster: LocalCluster) -> None:
    store = open_store(_not_holding(cluster).replace("cluster=1&", ""))
    try:
        with pytest.raises(StoreUnavailable, match="add cluster=1 to the URL"):
            store.get("x")
    finally:
        store.close()


def test_failover_of_the_slot_holder_loses_no_acknowledged_job(
    cluster: LocalCluster, start: Start
) -> None:
    """Enqueue without pause while the primary holding the slot is killed (-9): with
    wait_replicas=1 every acknowledged delay() reached the replica, which is promoted,
    and the worker that ran throughout ends every one of them. delay() raises from the
    kill until the old primary is back as a replica (WAIT 1 needs one)."""
    url = cluster.url(cluster.primaries[0], wait_replicas="1")
    bb = workerapp.build(url)
    noop = bb.tasks["noop"]
    start(url, "-p", "1")
    acknowledged: list[str] = []
    refused: list[float] = []  # when delay() raised StoreUnavailable (not acknowledged)
    unexpected: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            try:
                acknowledged.append(noop.delay().id)
            except StoreUnavailable:
                refused.append(time.monotonic())
                time.sleep(0.05)
            except BaseException as exc:
                unexpected.append(exc)
                return

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_until(lambda: len(acknowledged) >= 100, timeout=30)
        victim = cluster.holder()
        victim.kill()
        killed_at, before = time.monotonic(), len(acknowledged)
        cluster.wait_promoted()
        # the promoted primary has no replica: WAIT 1 fails and delay() raises, until the
        # old primary is back (from its own AOF) as the new one's replica
        victim.start()
        cluster.wait_replicated(victim)
        wait_until(lambda: len(acknowledged) >= before + 100 or unexpected, timeout=60)
    finally:
        stop.set()
        producer.join(timeout=30)
    assert not unexpected
    assert refused, "the kill went unnoticed: no delay() failed"
    assert refused[-1] - killed_at < 30
    wait_until(lambda: _statuses(bb, acknowledged) == {JobStatus.SUCCEEDED}, timeout=120)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("cluster=maybe", "cluster='maybe' must be 1 or 0"),
        ("wait_replicas=-1", "wait_replicas must be >= 0"),
        ("wait_timeout=0", "wait_timeout > 0"),
    ],
)
def test_bad_cluster_and_wait_options_are_refused_up_front(query: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Backburner(f"redis://127.0.0.1:6379/0?{query}")


def test_cluster_needs_a_node_address() -> None:
    with pytest.raises(ValueError, match="cluster=1 needs a redis:// or rediss:// URL"):
        Backburner("unix:///run/redis.sock?cluster=1")


def test_a_write_no_replica_confirmed_raises_and_says_so(redis_store_url: str) -> None:
    """The machine's Redis has no replica: WAIT 1 times out and delay() raises."""
    bb = workerapp.build(f"{redis_store_url}&wait_replicas=1&wait_timeout=0.05")
    with pytest.raises(StoreUnavailable, match="only 0 of the 1 replicas"):
        bb.tasks["noop"].delay()
    assert bb.store.counts()["default"][JobStatus.QUEUED] == 1  # applied on the primary


def test_a_manual_failover_is_followed_without_an_error(cluster: LocalCluster) -> None:
    """CLUSTER FAILOVER on the replica: the store's link still goes to the old primary,
    now a replica, which answers MOVED (and WAIT an error); the slot map is read again
    and the script runs on the new primary, once."""
    old = cluster.holder()
    bb = workerapp.build(cluster.url(old, wait_replicas="1"))
    first = bb.tasks["noop"].delay()
    cluster.client(cluster.replica).execute_command("CLUSTER", "FAILOVER")
    wait_until(lambda: cluster.holder() is cluster.replica, timeout=30)
    cluster.wait_replicated(old)
    second = bb.tasks["noop"].delay()
    assert bb.store.counts()["default"][JobStatus.QUEUED] == 2
    assert {first.id, second.id} == {r.id for r in bb.store.list_jobs()}
