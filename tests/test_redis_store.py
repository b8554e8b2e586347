"""What only the Redis store promises: surviving a server restart, failing clearly while
Redis is down, isolating prefixes, and warning about an evicting memory policy."""

from __future__ import annotations

import logging
import multiprocessing as mp
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from backburner import policy
from backburner.errors import StoreUnavailable
from backburner.job import JobRecord, JobStatus
from backburner.stores import Store, open_store
from backburner.stores.base import Done

from .conformance.records import make, wait_until
from .servers import free_port, require
from .servers.redis import RedisServer, delete_prefix

pytest.importorskip("redis")

if TYPE_CHECKING:
    from backburner.stores.redis import RedisStore

JOBS = 5000
LEASE = 3.0


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (no persistence), killed by PID afterwards."""
    if shutil.which("redis-server") is None:
        require("redis-server", "not on PATH; these tests start their own server")
    server = RedisServer(tmp_path / "redis", None, "--appendonly", "no").start()
    try:
        yield server
    finally:
        server.kill()


def _succeeded(store: Store) -> int:
    try:
        return store.counts().get("default", {}).get(JobStatus.SUCCEEDED, 0)
    except StoreUnavailable:
        return 0  # the server is restarting


def _drain(store: Store, name: str, stop: Any) -> None:
    """Claim and complete until told to stop, riding out the server going away."""
    while not stop.is_set():
        try:
            batch = store.claim(None, name, 10, LEASE)
            for job in batch:
                store.complete(job.id, job.token, None)
            if not batch:
                store.rescue_expired()  # claims whose complete() was lost in the crash
                store.wait_for_work(None, 0.2)
        except StoreUnavailable:
            time.sleep(0.05)  # back off while Redis restarts


@pytest.mark.slow
def test_every_job_succeeds_across_a_redis_crash_and_restart(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        require("redis-server", "not on PATH; this test starts and kills its own server")
    durable = ("--appendonly", "yes", "--appendfsync", "always")
    server = RedisServer(tmp_path / "redis", None, *durable).start()
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    procs: list[Any] = []
    try:
        store = open_store(server.url + "?prefix=restart")
        records = [make(f"r{i}") for i in range(JOBS)]
        for i in range(0, JOBS, 500):
            store.enqueue(records[i : i + 500])
        # The children inherit this store and its open connections: they must open their own.
        procs = [ctx.Process(target=_drain, args=(store, f"w{i}", stop)) for i in range(2)]
        for p in procs:
            p.start()
        done = wait_until(lambda: (n := _succeeded(store)) >= JOBS // 5 and n, timeout=120)
        server.kill()
        assert done < JOBS, "the drain finished before the crash: nothing was tested"
        server.start()
        # appendfsync always: every completion acknowledged before the crash is still there
        assert store.counts()["default"][JobStatus.SUCCEEDED] >= done
        wait_until(lambda: _succeeded(store) == JOBS, timeout=180, interval=0.1)
        stop.set()
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        assert store.counts() == {"default": {JobStatus.SUCCEEDED: JOBS}}
        finished = store.list_jobs(limit=JOBS)
        assert {r.id for r in finished} == {r.id for r in records}
        assert all(r.attempts >= 1 and r.finished_at is not None for r in finished)
        store.close()
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
        server.kill()


def test_calls_raise_store_unavailable_while_redis_is_down(own_server: RedisServer) -> None:
    store = open_store(own_server.url + "?prefix=down")
    store.enqueue([make()])
    own_server.kill()
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{own_server.port}"):
        store.enqueue([make()])
    with pytest.raises(StoreUnavailable, match="redis-server is running"):
        store.claim(None, "w", 1, LEASE)
    own_server.start()  # back, empty: stale pooled sockets must not break the next call
    record = make()
    assert store.enqueue([record]) == [record.id]
    store.close()


def test_scripts_flushed_from_the_server_are_loaded_again(own_server: RedisServer) -> None:
    import redis

    store = open_store(own_server.url + "?prefix=flush")
    store.enqueue([make("before")])
    redis.Redis(port=own_server.port).script_flush()
    after = make("after")
    assert store.enqueue([after]) == [after.id]
    assert [r.task for r in store.claim(None, "w", 5, LEASE)] == ["before", "after"]
    store.close()


def test_a_connection_the_server_closed_is_reconnected_before_use(
    own_server: RedisServer,
) -> None:
    import redis

    store = open_store(own_server.url + "?prefix=cut")
    store.enqueue([make()])
    admin = redis.Redis(port=own_server.port)
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    outcomes = []
    for _ in range(3):
        try:
            store.enqueue([make()])
            outcomes.append("ok")
        except StoreUnavailable:
            outcomes.append("unavailable")
    assert outcomes == ["ok"] * 3, "a link the server closed is reconnected before use"
    assert store.counts()["default"][JobStatus.QUEUED] == 4
    store.close()


def test_links_dropped_again_and_again_never_exhaust_max_connections(
    own_server: RedisServer,
) -> None:
    import redis

    store = open_store(own_server.url + "?prefix=cap&max_connections=2")
    admin = redis.Redis(port=own_server.port)
    for _ in range(6):
        store.enqueue([make()])
        admin.client_kill_filter(_type="normal", skipme=True)
    assert store.counts()["default"][JobStatus.QUEUED] == 6
    store.close()


_STALL = """
local t0 = redis.call('TIME')
local start = t0[1] * 1e6 + t0[2]
while true do
  local t = redis.call('TIME')
  if t[1] * 1e6 + t[2] - start > tonumber(ARGV[1]) * 1e6 then return 1 end
end
"""


def test_a_reply_that_came_too_late_is_never_read_as_the_next_ones(
    own_server: RedisServer,
) -> None:
    import redis

    store = open_store(own_server.url + "?prefix=late&socket_timeout=0.3")
    store.enqueue([make()])
    stall = threading.Thread(target=redis.Redis(port=own_server.port).eval, args=(_STALL, 0, 1.0))
    stall.start()
    time.sleep(0.1)  # the server is busy in the stalling script now
    with pytest.raises(StoreUnavailable):
        store.enqueue([make("late")])  # times out; its reply comes later
    stall.join()
    fresh = make("fresh")
    assert store.enqueue([fresh]) == [fresh.id]
    assert store.get(fresh.id) is not None
    store.close()


def test_threads_share_the_store_without_mixing_replies(redis_store_url: str) -> None:
    store = open_store(redis_store_url)
    records = [[make(f"t{t}-{i}") for i in range(200)] for t in range(8)]
    results: list[list[str]] = [[] for _ in range(8)]

    def produce(t: int) -> None:
        for r in records[t]:
            results[t] += store.enqueue([r])

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[r.id for r in batch] for batch in records]
    store.close()


def test_unreachable_url_fails_clearly_without_showing_the_password() -> None:
    store = open_store(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable) as caught:
        store.get("any")
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_url_options_reach_redis_py_without_our_prefix() -> None:
    from backburner.stores.redis_conn import parse_url

    assert parse_url("unix:///run/redis.sock?db=2&prefix=app") == (
        "unix:///run/redis.sock?db=2",
        "app",
    )
    assert parse_url("redis://h:1/0?socket_timeout=3") == ("redis://h:1/0?socket_timeout=3", "bb")
    with pytest.raises(ValueError, match="prefix"):
        open_store("redis://127.0.0.1:6379/0?prefix=a}b")  # would break the hash tag


def test_prefixes_isolate_stores_on_one_server(redis_server: tuple[str, int]) -> None:
    host, port = redis_server
    prefixes = [f"bbtest-{uuid.uuid4().hex}" for _ in range(2)]
    mine, other = (open_store(f"redis://{host}:{port}/0?prefix={p}") for p in prefixes)
    try:
        record = make(unique_key="k")
        mine.enqueue([record])
        twin = make(unique_key="k")
        assert other.enqueue([twin]) == [twin.id]  # unique keys are per prefix too
        assert other.get(record.id) is None
        [claimed] = other.claim(None, "w", 10, LEASE)
        assert claimed.id == twin.id
        other.complete(claimed.id, claimed.token, None)
        assert other.purge() == 1
        assert mine.counts() == {"default": {JobStatus.QUEUED: 1}}
        assert [r.id for r in mine.list_jobs()] == [record.id]
    finally:
        mine.close()
        other.close()
        for prefix in prefixes:
            delete_prefix(host, port, prefix)


def test_warns_once_when_redis_may_evict_jobs(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    admin = redis.Redis.from_url(own_server.url)
    admin.config_set("maxmemory-policy", "allkeys-lru")
    admin.close()
    store = open_store(own_server.url)
    with caplog.at_level(logging.WARNING, logger="backburner.redis"):
        store.enqueue([make()])
        store.claim(None, "w", 1, LEASE)
        store.close()
        store.get("again")  # a new connection, same store: still only one warning
    warnings = [r for r in caplog.records if r.name == "backburner.redis"]
    assert len(warnings) == 1
    assert "allkeys-lru" in warnings[0].getMessage()
    assert "noeviction" in warnings[0].getMessage()


def test_no_warning_when_redis_does_not_evict(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(own_server.url)
    with caplog.at_level(logging.WARNING, logger="backburner.redis"):
        store.enqueue([make()])
    assert not [r for r in caplog.records if r.name == "backburner.redis"]
    store.close()


def test_complete_and_claim_is_fenced_and_takes_the_next_job(redis_store_url: str) -> None:
    store = open_store(redis_store_url)
    try:
        store.enqueue([make("first", priority=1), make("second"), make("third", queue="other")])
        [first] = store.claim(None, "w", 1, LEASE)
        done, nxt = store.complete_and_claim(
            [Done(first.id, first.token, '"ok"')], None, "w", 1, LEASE
        )
        assert done == [True] and [r.task for r in nxt] == ["second"]
        assert nxt[0].status is JobStatus.RUNNING and nxt[0].attempts == 1
        assert store.get(first.id).result == '"ok"'  # type: ignore[union-attr]
        # a stale token completes nothing, but the claim half still works
        stale = [Done(first.id, first.token, None)]
        done, nxt2 = store.complete_and_claim(stale, ["other"], "w", 5, LEASE)
        assert done == [False] and [r.task for r in nxt2] == ["third"]
        assert store.get(first.id).result == '"ok"'  # type: ignore[union-attr]
    finally:
        store.close()


def _redis_store(url: str) -> RedisStore:
    from backburner.stores.redis import RedisStore

    store = open_store(url)
    assert isinstance(store, RedisStore)
    return store


def _back_to_running(job: JobRecord) -> policy.Ending:
    """An ending no attempt can have."""
    return policy.Ending(job.id, job.token, JobStatus.RUNNING, JobStatus.CANCELLED, at=1.0)


def test_a_malformed_ending_is_refused_before_any_ending_is_applied(
    redis_store_url: str,
) -> None:
    import redis

    store = _redis_store(redis_store_url)
    try:
        store.enqueue([make("a"), make("b")])
        a, b = store.claim(None, "w", 2, LEASE)
        with pytest.raises(ValueError, match="not"):
            store.end_attempts([policy.handed_back(a.id, a.token), _back_to_running(b)])
        # The script checks every number itself: a Lua script cannot undo a write it made.
        good = ["1.5", a.id, a.token, "queued", "cancelled", "1.5", "", "0", "", "", ""]
        bad = [b.id, b.token, "failed", "cancelled", "soon", "", "1", "", "E", '"at": 1}']
        with pytest.raises(redis.ResponseError, match="nothing was changed"):
            store._redis.run("end_attempts", *good, *bad)
        for job in (a, b):
            got = store.get(job.id)
            assert got is not None and got.status is JobStatus.RUNNING and got.attempts == 1
    finally:
        store.close()


def test_a_failure_keeps_the_exact_time_given_by_python(redis_store_url: str) -> None:
    store = _redis_store(redis_store_url)
    try:
        store.enqueue([make(max_attempts=1)])
        [job] = store.claim(None, "w", 1, LEASE)
        at = 1_700_000_000.123456789
        ending = policy.Ending(
            job.id, job.token, JobStatus.FAILED, JobStatus.CANCELLED, at=at, error="E: x"
        )
        assert store.end_attempts([ending]) == [JobStatus.FAILED]
        got = store.get(job.id)
        assert got is not None and got.finished_at == at and got.failures[0].at == at
    finally:
        store.close()


def test_lapsed_skips_and_drops_lease_entries_of_jobs_no_longer_running(
    redis_store_url: str,
) -> None:
    import redis

    store = _redis_store(redis_store_url)
    admin = redis.Redis.from_url(redis_store_url.partition("?")[0], decode_responses=True)
    try:
        store.enqueue([make("done"), make("held"), make("lapsed")])
        done, held, lapsed = store.claim(None, "w", 3, LEASE)
        store.complete(done.id, done.token, None)
        leases = store._redis.key("leases")
        # entries left behind (say, by an older version), ahead of the one real lapse
        admin.zadd(leases, {done.id: 1.0, "no-such-job": 2.0, lapsed.id: 3.0})
        admin.hset(store._redis.key("job", lapsed.id), "lease_until", "3.0")
        assert [r.id for r in store.lapsed(time.time(), 1)] == [lapsed.id]
        assert admin.zrange(leases, 0, -1) == [lapsed.id, held.id]
        assert store.rescue_expired() == [lapsed.id]
    finally:
        admin.close()
        store.close()


def test_enqueue_checks_every_number_before_writing_anything(redis_store_url: str) -> None:
    import redis

    store = _redis_store(redis_store_url)
    try:
        good, bad = make("a"), make("b", run_at=float("nan"))
        for batch in ([bad], [good, bad], [make("c", priority=0, timeout=float("inf"))]):
            with pytest.raises(redis.ResponseError, match="nothing was changed"):
                store.enqueue(batch)
        assert store.list_jobs() == [] and store.counts() == {}
        store.enqueue([good])
        [job] = store.claim(None, "w", 1, LEASE)
        with pytest.raises(redis.ResponseError, match="nothing was changed"):
            store._redis.run("heartbeat", "nan", job.id, job.token)
        with pytest.raises(redis.ResponseError, match="nothing was changed"):
            store._redis.run("cancel", job.id, "inf")
        got = store.get(job.id)
        assert got is not None and got.status is JobStatus.RUNNING and not got.cancel_requested
        assert got.lease_until == job.lease_until
    finally:
        store.close()
