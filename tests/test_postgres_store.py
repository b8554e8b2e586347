"""PostgreSQL-only behaviour: transactional enqueue, migrations, outages and restarts.

The Store protocol itself is checked by tests/conformance/ like every other backend.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from backburner import Backburner, policy
from backburner.errors import SchemaError, StoreUnavailable
from backburner.job import JobRecord, JobStatus
from backburner.stores import open_store
from backburner.stores.base import Done

from .conformance.records import make, wait_until
from .servers import free_port, require
from .servers.postgres import Cluster, ClusterError, with_option

psycopg = pytest.importorskip("psycopg")

LEASE = 30.0


@pytest.fixture
def store(postgres_store_url: str) -> Iterator[Any]:
    s = open_store(postgres_store_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def admin(postgres_server: str) -> Iterator[Any]:
    """An autocommit connection for looking behind the store's back."""
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        yield conn


def sqlalchemy_url(server_url: str) -> str:
    return server_url.replace("postgresql://", "postgresql+psycopg://", 1)


def make_bb(url: str) -> tuple[Backburner, Any]:
    bb = Backburner(url)

    @bb.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    return bb, add


# -- transactional enqueue -----------------------------------------------------------------
def test_psycopg_transaction_commit_makes_the_job_and_rollback_does_not(
    store: Any, postgres_server: str
) -> None:
    with psycopg.connect(postgres_server) as conn:
        kept, dropped = make("kept"), make("dropped")
        with store.transaction(conn):
            assert store.enqueue([dropped]) == [dropped.id]
            assert store.get(dropped.id) is not None  # visible inside the transaction
        conn.rollback()
        assert store.get(dropped.id) is None
        with store.transaction(conn):
            store.enqueue([kept])
        # not committed yet: other connections neither see nor claim it
        assert store.get(kept.id) is None
        assert store.claim(None, "w", 10, LEASE) == []
        conn.commit()
    [claimed] = store.claim(None, "w", 10, LEASE)
    assert claimed.id == kept.id


def test_backburner_transaction_with_task_delay(
    postgres_store_url: str, postgres_server: str
) -> None:
    bb, add = make_bb(postgres_store_url)
    with psycopg.connect(postgres_server) as conn:
        with bb.transaction(conn):
            job = add.delay(1, 2)
            again = add.options(unique_key="once").delay(1, 2)
            same = add.options(unique_key="once").delay(3, 4)
        assert same.id == again.id  # deduped inside the same, uncommitted transaction
        assert bb.get_job(job.id) is None
        conn.commit()
    got = bb.get_job(job.id)
    assert got is not None and got.status is JobStatus.QUEUED
    assert {r.id for r in bb.store.claim(None, "w", 10, LEASE)} == {job.id, again.id}
    bb.close()


def test_notify_wakes_workers_only_at_commit(postgres_store_url: str, postgres_server: str) -> None:
    store = open_store(with_option(postgres_store_url, "poll=60"))  # only NOTIFY can wake it
    store.migrate()
    woke = threading.Event()

    def waiter() -> None:
        store.wait_for_work(None, 30)
        woke.set()

    thread = threading.Thread(target=waiter)
    with psycopg.connect(postgres_server) as conn:
        with store.transaction(conn):
            thread.start()
            store.enqueue([make()])
        assert not woke.wait(0.5), "woken before commit"
        started = time.monotonic()
        conn.commit()
        assert woke.wait(5)
    assert time.monotonic() - started < 2
    thread.join()
    store.close()


def test_binding_is_per_thread(store: Any, postgres_server: str) -> None:
    other = make("other-thread")
    with psycopg.connect(postgres_server) as conn, store.transaction(conn):
        thread = threading.Thread(target=store.enqueue, args=([other],))
        thread.start()
        thread.join()
        conn.rollback()
    assert store.get(other.id) is not None  # the other thread used the pool and committed


def test_autocommit_psycopg_connection(store: Any, postgres_server: str) -> None:
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        at_once = make()
        with store.transaction(conn):
            store.enqueue([at_once])
            assert store.get(at_once.id) is not None
        dropped = make()
        with pytest.raises(ZeroDivisionError), store.transaction(conn), conn.transaction():
            store.enqueue([dropped])
            raise ZeroDivisionError
    assert store.get(at_once.id) is not None  # no transaction was open: committed at once
    assert store.get(dropped.id) is None


def test_sqlalchemy_session(postgres_store_url: str, postgres_server: str) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session

    bb, add = make_bb(postgres_store_url)
    engine = sqlalchemy.create_engine(sqlalchemy_url(postgres_server))
    try:
        with Session(engine) as session:
            with bb.transaction(session):
                dropped = add.delay(1, 1)
            session.rollback()
            with bb.transaction(session):
                kept = add.delay(2, 2)
            assert bb.get_job(kept.id) is None
            session.commit()
        assert bb.get_job(dropped.id) is None
        [claimed] = bb.store.claim(None, "w", 10, LEASE)
        assert claimed.id == kept.id
        with engine.connect() as connection:
            with bb.transaction(connection):
                via_connection = add.delay(3, 3)
            connection.commit()
        assert bb.get_job(via_connection.id) is not None
    finally:
        engine.dispose()
        bb.close()


def test_flask_sqlalchemy_session_commits_job_with_the_app_data(
    postgres_store_url: str, postgres_server: str, postgres_schema: str
) -> None:
    flask = pytest.importorskip("flask")
    flask_sqlalchemy = pytest.importorskip("flask_sqlalchemy")
    sqlalchemy = pytest.importorskip("sqlalchemy")

    bb, add = make_bb(postgres_store_url)
    bb.store.migrate()
    app = flask.Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(postgres_server)
    db = flask_sqlalchemy.SQLAlchemy(app)
    orders = f'"{postgres_schema}".orders'
    insert = sqlalchemy.text(f"INSERT INTO {orders} (id) VALUES (:id)")
    with app.app_context():
        db.session.execute(sqlalchemy.text(f"CREATE TABLE {orders} (id int PRIMARY KEY)"))
        db.session.commit()
        with bb.transaction(db.session):
            db.session.execute(insert, {"id": 1})
            dropped = add.delay(1, 1)
        db.session.rollback()
        with bb.transaction(db.session):
            db.session.execute(insert, {"id": 2})
            kept = add.delay(2, 2)
        db.session.commit()
        ids = db.session.execute(sqlalchemy.text(f"SELECT id FROM {orders}")).scalars().all()
        db.engine.dispose()
    assert ids == [2]
    assert bb.get_job(dropped.id) is None and bb.get_job(kept.id) is not None
    bb.close()


def test_transaction_refuses_what_it_cannot_use(store: Any, tmp_path: Any) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session

    with pytest.raises(TypeError, match="psycopg 3"):
        store.transaction(object())
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/x.db")
    with Session(engine) as session, pytest.raises(TypeError, match=r"postgresql\+psycopg"):
        store.transaction(session)
    engine.dispose()
    bb = Backburner(f"sqlite:///{tmp_path}/jobs.db")
    # issue 12 changed this: SQLite joins a sqlite3 transaction, and says what it takes
    with pytest.raises(TypeError, match=r"sqlite3\.Connection"):
        bb.transaction(object())


# -- migrations ----------------------------------------------------------------------------
def _open_and_count(url: str, start: Any, out: Any) -> None:
    try:
        store = open_store(url)
        start.wait()
        out.put(("ok", store.counts()))
        store.close()
    except BaseException as exc:  # report instead of dying silently
        out.put(("error", repr(exc)))


def test_fresh_schema_migrates_once_under_concurrency(
    postgres_store_url: str, postgres_schema: str, admin: Any
) -> None:
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(6), ctx.Queue()
    procs = [
        ctx.Process(target=_open_and_count, args=(postgres_store_url, start, out)) for _ in range(6)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == [("ok", {})] * 6
    rows = admin.execute(
        f'SELECT version, name FROM "{postgres_schema}".bb_schema_version'
    ).fetchall()
    assert rows == [(1, "initial")]


def test_migrate_is_idempotent_and_records_the_version(
    store: Any, postgres_schema: str, admin: Any
) -> None:
    assert store.migrate() == 1
    assert store.migrate() == 1
    count = admin.execute(f'SELECT count(*) FROM "{postgres_schema}".bb_schema_version').fetchone()
    assert count == (1,)


def test_newer_schema_is_refused(
    store: Any, postgres_store_url: str, postgres_schema: str, admin: Any
) -> None:
    table = f'"{postgres_schema}".bb_schema_version'
    admin.execute(f"INSERT INTO {table} (version, name) VALUES (9999, 'future')")
    newer = open_store(postgres_store_url)
    with pytest.raises(SchemaError, match="v9999"):
        newer.counts()
    with pytest.raises(SchemaError, match="upgrade backburner"):
        newer.migrate()
    newer.close()


def test_migrate_false_refuses_a_missing_schema_until_migrated(postgres_store_url: str) -> None:
    manual = open_store(with_option(postgres_store_url, "migrate=false"))
    with pytest.raises(SchemaError, match="backburner migrate"):
        manual.enqueue([make()])
    assert manual.migrate() == 1
    record = make()
    assert manual.enqueue([record]) == [record.id]
    manual.close()


def test_url_options_are_checked_and_kept_from_libpq() -> None:
    from backburner.stores.postgres_conn import parse_url

    options = parse_url(
        "postgresql://bob:sekret@db:5433/app?schema=jobs&migrate=off&sslmode=disable&pool_size=3"
    )
    assert (options.schema, options.migrate, options.pool_size) == ("jobs", False, 3)
    assert options.conninfo == "postgresql://bob:sekret@db:5433/app?sslmode=disable"
    assert "sekret" not in options.safe_url and "bob:***@db:5433" in options.safe_url
    raw = parse_url("postgres://h/db?options=-c%20a%3Db&password=a+b&poll=0.5")
    assert raw.conninfo == "postgres://h/db?options=-c%20a%3Db&password=a+b"  # as libpq reads it
    assert raw.poll == 0.5 and "a+b" not in raw.safe_url
    for bad in ("schema=a-b", "migrate=maybe", "pool_size=x", "poll=0"):
        with pytest.raises(ValueError, match="bad PostgreSQL store URL"):
            parse_url(f"postgresql://h/db?{bad}")


# -- connections: outages, dead connections, fork --------------------------------------------
def test_enqueue_while_the_server_is_down_raises_store_unavailable() -> None:
    url = f"postgresql://bob:sekret@127.0.0.1:{free_port()}/nothing"
    store = open_store(url)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        store.enqueue([make()])
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "127.0.0.1" in message and "sekret" not in message and "running" in message
    with pytest.raises(StoreUnavailable):
        store.claim(None, "w", 1, LEASE)
    started = time.monotonic()
    store.wait_for_work(None, 0.5)  # a hint: returns, never raises for an outage
    assert time.monotonic() - started < 10
    store.close()


def test_terminated_connections_are_replaced(store: Any, postgres_schema: str, admin: Any) -> None:
    store.enqueue([make()])
    store.wait_for_work(None, 0.01)  # starts the listener
    channel = f"backburner_{postgres_schema}"

    def backends() -> list[int]:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'backburner' "
            "AND datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        return [r[0] for r in rows]

    def listening() -> bool:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = %s",
            (f'LISTEN "{channel}"',),
        ).fetchone()
        return bool(row and row[0])

    wait_until(listening)
    killed = backends()
    for pid in killed:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(lambda: not set(killed) & set(backends()))  # termination is asynchronous
    # the pool's dead connection is noticed before use; the listener reconnects
    assert len(store.claim(None, "w", 10, LEASE)) == 1
    wait_until(listening)
    woke = threading.Thread(target=store.enqueue, args=([make()],))
    started = time.monotonic()
    woke.start()
    store.wait_for_work(None, 30)
    assert time.monotonic() - started < 15  # woken, long before the timeout
    woke.join()


def test_wait_for_work_polls_when_the_listener_cannot_connect(
    postgres_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backburner.stores.postgres_conn import ConnectionSource

    def refuse(self: Any, listen: bool = False, **overrides: Any) -> Any:
        raise psycopg.OperationalError("listener refused by the test")

    store = open_store(with_option(postgres_store_url, "poll=0.1"))
    store.migrate()
    monkeypatch.setattr(ConnectionSource, "connect", refuse)
    store.wait_for_work(None, 0.05)
    later = threading.Timer(0.2, store.enqueue, args=([make()],))
    started = time.monotonic()
    later.start()
    store.wait_for_work(None, 10)
    assert time.monotonic() - started < 2
    later.join()
    store.close()


def _use_inherited_store(store: Any, out: Any) -> None:
    jobs = store.claim(None, "child", 10, LEASE)
    out.put([store.complete(j.id, j.token, None) for j in jobs])
    store.close()


def test_a_store_used_before_fork_works_in_parent_and_child(store: Any) -> None:
    store.enqueue([make(), make()])
    store.wait_for_work(None, 0.01)  # the parent has a pool and a listener thread
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_use_inherited_store, args=(store, out))
    child.start()
    assert out.get(timeout=30) == [True, True]
    child.join(timeout=30)
    assert child.exitcode == 0
    record = make()
    assert store.enqueue([record]) == [record.id]  # the parent's connections still work
    assert store.counts() == {"default": {JobStatus.SUCCEEDED: 2, JobStatus.QUEUED: 1}}


def test_purge_deletes_in_batches(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from backburner.stores import postgres_purge

    monkeypatch.setattr(postgres_purge, "_PURGE_BATCH", 7)
    store.enqueue([make() for _ in range(30)])
    for job in store.claim(None, "w", 30, LEASE):
        store.complete(job.id, job.token, None)
    assert store.purge() == 30
    assert store.counts() == {}


# -- ending attempts while other transactions hold the row ---------------------------------
def _lock_row(conn: Any, schema: str, job_id: str, change: str = "") -> None:
    """Take the job's row lock in `conn`'s open transaction (and `change` it, uncommitted)."""
    sql = f'UPDATE "{schema}".bb_jobs SET {change or "id = id"} WHERE id = %s'
    conn.execute(sql, (job_id,))


def test_a_lapse_ending_passes_over_a_row_another_transaction_holds(
    store: Any, postgres_server: str, postgres_schema: str
) -> None:
    store.enqueue([make(max_attempts=3)])
    [job] = store.claim(None, "w", 1, 0.01)
    [lapsed] = wait_until(lambda: store.lapsed(time.time(), 10))
    ending = policy.after_lapse(lapsed, time.time())
    with psycopg.connect(postgres_server) as worker_side:
        _lock_row(worker_side, postgres_schema, job.id)  # its worker is recording it
        pool = ThreadPoolExecutor(1)
        try:  # a wait on the lock would show as a timeout
            assert pool.submit(store.end_attempts, [ending]).result(timeout=10) == [None]
        finally:
            worker_side.rollback()
            pool.shutdown()
    assert store.end_attempts([ending]) == [JobStatus.QUEUED]  # a later pass takes it
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.QUEUED and len(got.failures) == 1


def test_an_ending_waits_for_a_row_being_completed_and_is_then_refused(
    store: Any, postgres_server: str, postgres_schema: str, admin: Any
) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    with psycopg.connect(postgres_server) as other:
        _lock_row(other, postgres_schema, job.id, "status = 'succeeded', lease_until = NULL")
        with ThreadPoolExecutor(1) as pool:
            failing = pool.submit(store.fail, job.id, job.token, "E: late", None)
            waiting = (
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND position(%s in query) > 0"
            )
            wait_until(lambda: admin.execute(waiting, (postgres_schema,)).fetchone()[0] == 1)
            other.commit()
            assert failing.result(timeout=10) is False  # checked again on the new row
    got = store.get(job.id)
    assert got is not None and got.status is JobStatus.SUCCEEDED and not got.failures


def test_a_heartbeat_passes_over_a_row_being_completed_and_still_holds_its_lease(
    store: Any, postgres_server: str, postgres_schema: str
) -> None:
    store.enqueue([make("first"), make("second")])
    first, second = sorted(store.claim(None, "w", 2, LEASE), key=lambda r: r.id)
    leases = {second.id: second.token, first.id: first.token}
    with psycopg.connect(postgres_server) as child:
        _lock_row(child, postgres_schema, first.id)  # the child is completing it
        pool = ThreadPoolExecutor(1)
        try:  # a wait on the lock would show as a timeout (and could deadlock)
            reply = pool.submit(store.heartbeat, "w", leases, 3 * LEASE).result(timeout=10)
        finally:
            child.rollback()
            pool.shutdown()
    assert reply.lost == frozenset()  # being completed is not lost
    got_first, got_second = store.get(first.id), store.get(second.id)
    assert got_first is not None and got_second is not None
    assert got_second.lease_until is not None and got_second.lease_until > time.time() + LEASE
    assert got_first.lease_until == first.lease_until  # renewed by the next heartbeat
    assert store.heartbeat("w", leases, 3 * LEASE).lost == frozenset()
    got_first = store.get(first.id)
    assert got_first is not None and got_first.lease_until is not None
    assert got_first.lease_until > time.time() + LEASE


def test_a_heartbeat_reports_a_lease_taken_over_as_lost(store: Any) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    assert store.complete(job.id, job.token, None)
    assert store.heartbeat("w", {job.id: job.token}, LEASE).lost == {job.id}


def test_a_completion_locks_its_rows_in_id_order(
    store: Any, postgres_server: str, postgres_schema: str, admin: Any
) -> None:
    # stored in the other order than their ids': a plan that meets rows in table order
    # would lock the higher id first
    store.enqueue([dataclasses.replace(make(), id=f"{n}-{uuid.uuid4().hex}") for n in (2, 1)])
    low, high = sorted(store.claim(None, "w", 2, LEASE), key=lambda r: r.id)
    done = [Done(high.id, high.token, None), Done(low.id, low.token, None)]
    waiting = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND position(%s in query) > 0"
    )
    probe = f'SELECT 1 FROM "{postgres_schema}".bb_jobs WHERE id = %s FOR UPDATE NOWAIT'
    with psycopg.connect(postgres_server) as other:
        _lock_row(other, postgres_schema, high.id)
        pool = ThreadPoolExecutor(1)
        try:
            completing = pool.submit(store.complete_and_claim, done, None, "w", 0, LEASE)
            wait_until(lambda: admin.execute(waiting, (postgres_schema,)).fetchone()[0] == 1)
            # waiting for the higher id, it holds the lower one already
            with pytest.raises(psycopg.errors.LockNotAvailable):
                admin.execute(probe, (low.id,))
        finally:
            other.rollback()
            pool.shutdown()
    assert completing.result(timeout=10) == ([True, True], [])


def _plan_after_a_burst(store: Any, schema: str, admin: Any, statement: str) -> str:
    """The plan of a statement given two jobs, on statistics taken while every job was
    queued, none running or succeeded, as after a burst."""
    for start in range(0, 2000, 500):
        store.enqueue([make(f"plan{n}") for n in range(start, start + 500)])
    admin.execute(f'ANALYZE "{schema}".bb_jobs')
    params = {
        "now": time.time(),
        "until": time.time() + LEASE,
        "ids": ["plan1", "plan2"],
        "tokens": [1, 1],
        "results": [None, None],
        "channel": "bb_test",
    }
    return "\n".join(row[0] for row in admin.execute("EXPLAIN " + store._sql[statement], params))


@pytest.mark.parametrize("statement", ["complete_many", "release"])
def test_a_completion_reads_each_job_by_id_whatever_the_statistics(
    store: Any, postgres_schema: str, admin: Any, statement: str
) -> None:
    # planned as joins, these statements read the whole lease (or succeeded) index, dead
    # entries of every job since included, for each completion
    plan = _plan_after_a_burst(store, postgres_schema, admin, statement)
    assert "bb_jobs_id_key" in plan, plan
    assert "bb_jobs_lease" not in plan and "bb_jobs_succeeded" not in plan, plan


def test_a_heartbeat_reads_each_job_by_id_whatever_the_statistics(
    store: Any, postgres_schema: str, admin: Any
) -> None:
    # as a join, the heartbeat read the whole lease index for each renewal
    plan = _plan_after_a_burst(store, postgres_schema, admin, "heartbeat")
    assert "bb_jobs_id_key" in plan, plan
    assert "bb_jobs_lease" not in plan and "Seq Scan" not in plan, plan


# -- a server restart in the middle of a drain ---------------------------------------------
RESTART_JOBS = 3000


def _drainer(url: str, name: str, out: Any) -> None:
    store = open_store(url)
    outages = 0
    backoff = 0.05
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            store.rescue_expired()  # at least once: leases lost in the crash come back
            batch = store.claim(None, name, 1, 2.0)
            if not batch:
                if store.counts() == {"default": {JobStatus.SUCCEEDED: RESTART_JOBS}}:
                    break
                store.wait_for_work(None, 0.2)
            for job in batch:
                store.complete(job.id, job.token, None)
            backoff = 0.05
        except StoreUnavailable:
            outages += 1
            time.sleep(backoff)  # what a worker does while the server is away
            backoff = min(backoff * 2, 1.0)
    out.put(outages)
    store.close()


@pytest.mark.slow
def test_jobs_survive_a_server_restart_mid_drain() -> None:
    try:
        cluster = Cluster()
    except ClusterError as exc:
        require("initdb/pg_ctl", str(exc))
        return
    procs: list[Any] = []
    try:
        cluster.start()
        url = with_option(cluster.url, "schema=restart&pool_timeout=5")
        store = open_store(url)
        for i in range(0, RESTART_JOBS, 500):
            store.enqueue([make(f"r{n}") for n in range(i, i + 500)])
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        procs = [ctx.Process(target=_drainer, args=(url, f"d{i}", out)) for i in range(2)]
        for p in procs:
            p.start()

        def succeeded() -> int:
            return store.counts().get("default", {}).get(JobStatus.SUCCEEDED, 0)

        wait_until(lambda: succeeded() >= 200, timeout=60)
        old_pid = cluster.pid()
        cluster.stop_immediately()
        cluster.start()
        assert cluster.pid() != old_pid
        # workers cannot progress while the server is down: work was left for after it
        assert succeeded() < RESTART_JOBS, "the drain ended before the restart"
        # outages may be 0: a worker that only meets the server again after it restarted
        # gets fresh connections (dead pooled ones are noticed before use)
        [out.get(timeout=150) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        assert store.counts() == {"default": {JobStatus.SUCCEEDED: RESTART_JOBS}}
        store.close()
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        cluster.stop()


def succeeded_job(store: Any) -> JobRecord:
    """A job stored, claimed and completed: what a dependent may need the result of."""
    done = make("dep")
    store.enqueue([done])
    [claimed] = store.claim(None, "w", 1, LEASE)
    assert store.complete(done.id, claimed.token, '"result"')
    return done


def test_a_delete_racing_an_enqueue_of_a_dependent_keeps_the_dependency(
    store: Any, admin: Any, postgres_server: str
) -> None:
    # The enqueue of a job depending on finished job X holds X FOR SHARE until it
    # commits; a delete_jobs([X]) meanwhile waits for that lock and must then see the new
    # dependent (not yet finished), so X, whose result it may need, stays.
    done = succeeded_job(store)
    with psycopg.connect(postgres_server) as conn:
        with store.transaction(conn):
            [dependent] = store.enqueue([make("then", depends_on=(done.id,))])
        with ThreadPoolExecutor(1) as pool:
            deleting = pool.submit(store.delete_jobs, [done.id])
            try:  # the delete waits for the enqueue's lock on X
                wait_until(
                    lambda: (
                        admin.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND (query ILIKE '%%delete%%' OR query ILIKE '%%for update%%')"
                        ).fetchone()[0]
                        >= 1
                    ),
                    timeout=10,
                )
            finally:
                conn.commit()
            assert deleting.result(timeout=10) == 0
    assert store.get(done.id) is not None
    assert store.get(dependent) is not None


def test_a_purge_racing_an_enqueue_of_a_dependent_keeps_the_dependency(
    store: Any, admin: Any, postgres_server: str
) -> None:
    # as above, for purge: the job an uncommitted enqueue made a dependency of is skipped
    done = succeeded_job(store)
    with psycopg.connect(postgres_server) as conn:
        with store.transaction(conn):
            store.enqueue([make("then", depends_on=(done.id,))])
        with ThreadPoolExecutor(1) as pool:
            purging = pool.submit(store.purge)
            try:  # the purge either passed X over or waits for the enqueue's lock on it
                wait_until(
                    lambda: (
                        purging.done()
                        or admin.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND query ILIKE '%%delete%%'"
                        ).fetchone()[0]
                        >= 1
                    ),
                    timeout=10,
                )
            finally:
                conn.commit()
            purging.result(timeout=10)
    assert store.get(done.id) is not None
