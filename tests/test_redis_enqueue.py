"""Redis: a lone plain job (no unique_key, dependencies or limits), as `delay()` makes,
is stored by lua/enqueue_one.lua, a leaner script than the batch one; it must write
exactly what lua/enqueue.lua writes for that job: the same hash, indexes, ready or
scheduled set, queue set, wake-up tokens and, to a waiting worker, the same hand-off."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from backburner.job import JobRecord
from backburner.stores import open_store
from backburner.stores.redis import RedisStore, _enqueue_one_args

from .conformance.records import make

pytest.importorskip("redis")


@pytest.fixture
def stores(redis_store_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """Two stores on one server, each under a prefix of its own: lean and general."""
    from .servers.redis import delete_prefix

    lean = open_store(redis_store_url)
    general = open_store(redis_store_url.replace("?prefix=", "?prefix=general-"))
    assert isinstance(lean, RedisStore) and isinstance(general, RedisStore)
    yield lean, general
    lean.close()
    general.close()
    host, port = redis_store_url.split("//")[1].split("/")[0].split(":")
    delete_prefix(host, int(port), general.prefix)


def _dump(store: RedisStore) -> dict[str, Any]:
    """Every key of the store's namespace (the namespace left out of its name) with its
    type, its value and whether it expires."""
    client = store._redis.connection().client
    found: dict[str, Any] = {}
    for key in client.scan_iter(match=store._redis.namespace + "*", count=1000):
        kind = client.type(key)
        value: Any
        if kind == "hash":
            value = client.hgetall(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        else:
            value = client.get(key)
        name = key[len(store._redis.namespace) :]
        found[name] = (kind, value, client.pttl(key) > 0)
    return found


def _store_both(stores: tuple[RedisStore, RedisStore], r: JobRecord, now: float) -> list[Any]:
    """Store `r` with each script, as of the same `now`; the replies of both."""
    lean, general = stores
    one = list(_enqueue_one_args(r))
    batch = RedisStore._enqueue_args([r])
    one[0] = batch[0] = repr(now)
    return [lean._redis.run("enqueue_one", *one), general._redis.run("enqueue", *batch)]


def _idle_worker(store: RedisStore, hand: str, queues: Any, until: float) -> None:
    """Register a worker waiting for work, as lua/peek.lua does when it finds none."""
    entry = json.dumps([f"{until:.6f}", "30.0", "w-" + hand, queues])
    store._redis.connection().client.hset(store._redis.key("idlers"), hand, entry)


def test_a_lone_plain_job_is_stored_exactly_as_the_batch_script_stores_it(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    jobs = [
        make("a"),
        make("a", queue="q2", priority=-3, timeout=5.0, trace_context="00-ab-cd-01"),
        make("b", run_at=time.time() + 100),  # scheduled
        make("b", max_attempts=1, retry_backoff=0.25),
        *(make("c", queue="q2") for _ in range(20)),  # past the wake-up list's cap
    ]
    now = time.time()  # every job above is due but the scheduled one
    for r in jobs:
        assert _store_both(stores, r, now) == [[1, []], [1, []]]
    lean, general = stores
    assert _dump(lean) == _dump(general)
    assert len(lean.list_jobs(limit=100)) == len(jobs)


def test_a_lone_plain_job_is_handed_over_exactly_as_the_batch_script_hands_it(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    now = time.time()
    for store in stores:
        _idle_worker(store, "gone", "*", now - 1)  # stopped waiting: dropped
        _idle_worker(store, "other", ["q2"], now + 60)  # another queue: kept
        _idle_worker(store, "mine", "*", now + 60)
    jobs = (make("a", timeout=2.0), make("a"), make("a", run_at=now + 100))
    now = time.time()
    for r in jobs:
        assert _store_both(stores, r, now) == [[1, []], [1, []]]
        lean, general = stores
        assert _dump(lean) == _dump(general)
    hand = lean._redis.key("hand", "mine")
    [handed] = lean._redis.connection().client.lrange(hand, 0, -1)
    fields = json.loads(handed)
    assert fields[fields.index("id") + 1] == jobs[0].id
    assert fields[fields.index("status") + 1] == "running"
    assert lean._redis.connection().client.hkeys(lean._redis.key("idlers")) == ["other"]
    for store in stores:  # a job not handed over (another is due first) forgets waiters
        _idle_worker(store, "late", ["default"], now + 60)
    _store_both(stores, make("a"), time.time())
    assert _dump(lean) == _dump(general)
    assert lean._redis.connection().client.hkeys(lean._redis.key("idlers")) == ["other"]


def test_a_taken_id_is_refused_by_the_lean_script_without_a_write(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    lean, _ = stores
    r = make("a")
    lean.enqueue([r])
    before = _dump(lean)
    with pytest.raises(ValueError, match="already stored"):
        lean.enqueue([r])
    assert _dump(lean) == before


def test_delay_runs_the_lean_script_and_batches_and_options_the_general_one(
    stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, _ = stores
    ran: list[str] = []
    run = lean._redis.run

    def spy(name: str, *args: Any) -> Any:
        ran.append(name)
        return run(name, *args)

    monkeypatch.setattr(lean._redis, "run", spy)
    first = make("a")
    lean.enqueue([first])
    lean.enqueue([make("a"), make("a")])
    lean.enqueue([make("a", unique_key="k")])
    lean.enqueue([make("a", depends_on=(first.id,))])
    lean.enqueue([make("a", concurrency=1, concurrency_key="k")])
    lean.enqueue([make("a", rate_limit=1, rate_period=1.0, rate_key="k")])
    assert ran == ["enqueue_one", *["enqueue"] * 5]
    got = lean.get(first.id)
    assert got is not None and got == first
