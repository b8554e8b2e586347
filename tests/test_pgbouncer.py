"""The PostgreSQL store behind a real PgBouncer in transaction pooling mode (started by
tests/servers/pgbouncer.py): enqueue, claim, a worker process, every operator command,
and the wake-up, polled or through a direct LISTEN connection (`listen_url=`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from backburner import Backburner, JobStatus
from backburner.cli import main
from backburner.errors import StoreUnavailable
from backburner.stores.base import Tick
from backburner.stores.postgres_ticks import _lock_key
from backburner.urls import redact, scrub

from . import workerapp
from .helpers import SRC, TESTS, Start, wait_until
from .servers import free_port
from .servers.pgbouncer import PgBouncer, pgbouncer
from .test_metrics import reachable, scrape

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def bouncer(postgres_server: str) -> Iterator[PgBouncer]:
    with pgbouncer(postgres_server) as found:
        yield found


@pytest.fixture
def url(bouncer: PgBouncer, postgres_schema: str) -> str:
    """A store URL through PgBouncer, polling for work (no direct connection given)."""
    return f"{bouncer.url}?schema={postgres_schema}&pgbouncer=true&poll=0.2"


@pytest.fixture
def bb(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backburner]:
    app = workerapp.build(url)
    app.periodic(every=3600, name="hourly")(app.tasks["noop"])
    monkeypatch.setitem(sys.modules, "bouncedapp", types.SimpleNamespace(bb=app))
    yield app
    app.close()


def run(*args: str) -> str:
    result = CliRunner().invoke(main, [args[0], "bouncedapp:bb", *args[1:]])
    assert result.exit_code == 0, result.output
    return result.output


def test_without_pgbouncer_true_the_error_says_to_add_it(
    bouncer: PgBouncer, postgres_schema: str
) -> None:
    """psycopg prepares a statement run five times; on PgBouncer 1.18 in transaction
    pooling the next transaction may meet a server connection that has it already."""
    app = workerapp.build(f"{bouncer.url}?schema={postgres_schema}&pool_size=2")
    try:
        with pytest.raises(StoreUnavailable, match="add pgbouncer=true to the URL"):
            for _ in range(50):
                app.tasks["noop"].delay()
                app.store.counts()
    finally:
        app.close()


def test_enqueue_claim_and_a_worker_drain_through_pgbouncer(
    bb: Backburner, url: str, start: Start
) -> None:
    jobs = [bb.tasks["noop"].delay() for _ in range(40)]  # far past psycopg's 5 uses
    done, claimed = bb.store.complete_and_claim([], None, "test-claimer", 1, 30)
    assert done == [] and [r.id for r in claimed] == [jobs[0].id]
    assert bb.store.complete(claimed[0].id, claimed[0].token, None)
    start(url, "-p", "1", "-t", "2")
    ids = [job.id for job in jobs]
    wait_until(lambda: {bb.store.get(i, light=True).status for i in ids} == {JobStatus.SUCCEEDED})  # type: ignore[union-attr]


def test_every_operator_command_works_through_pgbouncer(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    chatty = bb.tasks["chatty"].delay()
    failing = bb.tasks["flaky"].options(retries=0).delay(5)
    start(url, "-p", "1")
    wait_until(lambda: bb.store.get(chatty.id, light=True).status is JobStatus.SUCCEEDED)  # type: ignore[union-attr]
    wait_until(lambda: bb.store.get(failing.id, light=True).status is JobStatus.FAILED)  # type: ignore[union-attr]
    assert "default" in run("status")
    assert json.loads(run("status", "--json"))["queues"]["default"]["succeeded"] == 1
    assert "attempt 1 failed" in run("show", failing.id)
    assert "hello from a job" in run("logs", chatty.id)
    assert chatty.id in run("jobs")
    run("pause", "default")
    later = bb.tasks["noop"].delay()
    assert "paused" in run("explain", later.id)
    run("resume", "default")
    assert "hourly" in run("periodic")
    run("retry", failing.id)
    wait_until(lambda: bb.store.get(failing.id, light=True).status is JobStatus.FAILED)  # type: ignore[union-attr]
    slow = bb.tasks["sleep"].schedule((0,), delay=3600)
    run("cancel", slow.id)
    assert bb.store.get(slow.id, light=True).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    run("purge")
    assert bb.store.get(chatty.id) is None


def test_metrics_command_serves_through_pgbouncer(bb: Backburner, url: str) -> None:
    bb.tasks["noop"].delay()
    port = free_port()
    proc = CliProcess(url, "metrics", "--port", str(port))
    try:
        wait_until(lambda: reachable(port), timeout=20)
        samples = scrape(port)
    finally:
        proc.stop()
    queued = [v for (name, labels), v in samples.items() if ("status", "queued") in labels]
    assert queued and max(queued) == 1


class CliProcess:
    """`backburner COMMAND workerapp:bb ...` as a process of its own, killed by PID."""

    def __init__(self, url: str, command: str, *args: str) -> None:
        env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": f"{TESTS}:{SRC}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backburner", command, "workerapp:bb", *args],
            cwd=TESTS,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def test_tick_locks_are_transaction_scoped_and_leave_nothing_behind(
    bb: Backburner, postgres_server: str, postgres_schema: str
) -> None:
    """A periodic tick's advisory lock is pg_advisory_xact_lock: PgBouncer hands the
    server connection to others after the transaction, and nothing of ours stays on it."""
    tick = Tick("hourly", 3600.0, "every:3600", time.time(), None, False)
    assert bb.store.enqueue_tick(tick, None)
    assert not bb.store.enqueue_tick(tick, None)  # the same tick: the loser writes nothing
    key = _lock_key(postgres_schema, "hourly")
    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        held = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid::bigint = %s AND objid::bigint = %s",
            (high, low),
        ).fetchone()
    assert held == (0,)


def test_a_direct_listen_url_wakes_a_waiting_worker_at_once(
    bouncer: PgBouncer, postgres_server: str, postgres_schema: str
) -> None:
    """poll=60: only a notification can end the wait early, and it comes over the direct
    connection, PgBouncer passing the enqueue's pg_notify on at commit."""
    direct = quote(postgres_server, safe="")
    url = f"{bouncer.url}?schema={postgres_schema}&pgbouncer=true&poll=60&listen_url={direct}"
    waiter, producer = workerapp.build(url), workerapp.build(url)
    try:
        producer.store.counts()  # the schema exists before the waiter looks
        woke = threading.Event()

        def wait() -> None:
            waiter.store.wait_for_work(None, 60)
            woke.set()

        thread = threading.Thread(target=wait)
        thread.start()
        # its LISTEN, on the direct connection (PgBouncer would not keep it)
        wait_until(lambda: _listening(postgres_server, postgres_schema), timeout=20)
        producer.tasks["noop"].delay()
        assert woke.wait(30), "the wait did not end on the notification"
        thread.join()
    finally:
        waiter.close()
        producer.close()


def _listening(server: str, schema: str) -> bool:
    with psycopg.connect(server, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE %s", (f"LISTEN %{schema}%",)
        ).fetchone()
    return bool(found and found[0])


def test_the_password_of_a_listen_url_is_hidden_wherever_the_url_is_shown() -> None:
    url = (
        "postgresql://app:outer@bouncer:6432/db?pgbouncer=true"
        "&listen_url=postgresql%3A%2F%2Fapp%3Ainner%40db%3A5432%2Fdb"
    )
    shown = redact(url)
    assert "outer" not in shown and "inner" not in shown
    assert "listen_url=postgresql://app:***@db:5432/db" in shown
    assert scrub("failed: inner and outer", url) == "failed: *** and ***"


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("pgbouncer=maybe", "pgbouncer='maybe' must be true or false"),
        ("listen_url=redis://x", "listen_url must be a postgresql:// URL"),
    ],
)
def test_bad_pgbouncer_options_are_refused_up_front(option: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Backburner(f"postgresql://app@bouncer:6432/db?{option}")


def test_a_stricter_server_isolation_is_warned_of_since_it_cannot_be_set(
    postgres_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    from backburner.stores.postgres_conn import _check_isolation

    with psycopg.connect(postgres_server, autocommit=True) as conn:
        _check_isolation(conn)
        assert not caplog.records
        conn.execute("SET default_transaction_isolation TO 'serializable'")  # as if the default
        _check_isolation(conn)
    assert "claims need 'read committed'" in caplog.text
