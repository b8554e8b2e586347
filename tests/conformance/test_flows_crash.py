"""Crash safety of dependencies (issue 17): a process SIGKILLed at any point of the path
from "dependency succeeded" to "dependent queued" never strands a waiting job.

A forked process claims the dependency, as a worker would, and dies by SIGKILL before its
completion call, inside it (SQLite: after the completion's UPDATE, before COMMIT;
PostgreSQL: after the completion was sent, before the dependents' statement and COMMIT;
Redis: after the script was sent, before its reply), or just after it. Whatever point,
the store holds either the dependency still running (its lease lapses, it runs again)
or the dependency succeeded with its dependent queued: never succeeded with the
dependent waiting. Then the jobs are run to the end: nothing is left waiting.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from typing import Any

import psycopg
import pytest

from backburner.job import JobStatus
from backburner.stores import Store, open_store
from backburner.stores.postgres import PostgresStore
from backburner.stores.redis import RedisStore
from backburner.stores.sqlite import SQLiteStore

from .records import make

POINTS = ("before", "inside", "after")
LEASE = 0.3  # seconds: the dead worker's lease lapses soon


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _die_inside(store: Store) -> None:
    """Make this process die in the middle of the store's completion call."""
    if isinstance(store, SQLiteStore):
        from backburner.stores import sqlite_deps

        sqlite_deps.release = lambda *a, **k: _die()  # type: ignore[assignment]
    elif isinstance(store, PostgresStore):
        release = store._sql["release"]
        execute = psycopg.Cursor.execute

        def dying(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if query == release:
                _die()
            return execute(self, query, *args, **kwargs)

        psycopg.Cursor.execute = dying  # type: ignore[method-assign]
    elif isinstance(store, RedisStore):
        connector = store._redis

        def sent_then_die(link: Any, name: str, args: tuple[Any, ...]) -> Any:
            link.send_command("EVALSHA", connector._shas[name], 1, connector.namespace, *args)
            _die()

        connector._evalsha = sent_then_die  # type: ignore[method-assign]


def _complete_and_die(url: str, point: str) -> None:
    store = open_store(url)
    [claimed] = store.claim(None, "doomed", 1, LEASE)
    if point == "before":
        _die()
    if point == "inside":
        _die_inside(store)
    store.complete(claimed.id, claimed.token, "1")
    _die()


def _run_to_the_end(store: Store) -> None:
    """Rescue the dead worker's job once its lease lapses, and run every job due."""
    deadline = time.monotonic() + 60
    while store.counts() != {"default": {JobStatus.SUCCEEDED: 2}}:
        assert time.monotonic() < deadline, f"not all done after 60 s: {store.counts()}"
        store.rescue_expired()
        for job in store.claim(None, "survivor", 10, 60.0):
            assert store.complete(job.id, job.token, "2")
        time.sleep(0.05)


@pytest.mark.parametrize("point", POINTS)
def test_a_worker_killed_while_completing_a_dependency_strands_no_waiting_job(
    shared_url: str, point: str
) -> None:
    store = open_store(shared_url)
    dependency = make("dep")
    dependent = make("then", depends_on=(dependency.id,))
    store.enqueue([dependency, dependent])
    child = mp.get_context("fork").Process(target=_complete_and_die, args=(shared_url, point))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL

    first, then = store.get(dependency.id), store.get(dependent.id)
    assert first is not None and then is not None
    if first.status is JobStatus.SUCCEEDED:
        assert then.status is JobStatus.QUEUED, "dependency succeeded, dependent still waiting"
    else:
        assert first.status is JobStatus.RUNNING and then.status is JobStatus.WAITING
    if point == "before":
        assert first.status is JobStatus.RUNNING
    if point == "after":
        assert first.status is JobStatus.SUCCEEDED

    _run_to_the_end(store)
    store.close()


def _complete_parents(url: str, start: Any, out: Any) -> None:
    store = open_store(url)
    start.wait()
    done = 0
    while batch := store.claim(["parents"], "racer", 2, 60.0):
        for job in batch:
            assert store.complete(job.id, job.token, "1")
            done += 1
    out.put(done)
    store.close()


def test_racing_completions_of_a_jobs_dependencies_queue_it_once(shared_url: str) -> None:
    store = open_store(shared_url)
    records = []
    for _ in range(150):
        left, right = make("left", queue="parents"), make("right", queue="parents")
        records += [left, right, make("child", depends_on=(left.id, right.id))]
    store.enqueue(records)
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_complete_parents, args=(shared_url, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    assert sum(out.get(timeout=120) for _ in procs) == 300
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert store.counts()["default"] == {JobStatus.QUEUED: 150}
    store.close()
