"""PostgreSQL: a worker's completion and claim commit without waiting for the worker.

Sixteen worker processes on two cores are often descheduled between two messages. A
transaction that needs the worker again before it commits (to read results, then send
COMMIT) keeps its row locks until the worker runs again, and other workers' completions
wait for them. Here a proxy holds the server's replies back, as if the worker were
descheduled, and the server must have committed all the same.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from backburner.stores import open_store
from backburner.stores.base import Done
from backburner.stores.postgres_conn import PIPELINE

from .conformance.records import make
from .helpers import wait_until
from .servers.postgres import with_option

psycopg = pytest.importorskip("psycopg")

LEASE = 30.0
APP = "bbtest_round_trips"


class HeldReplies:
    """A TCP proxy to a server whose replies wait in the proxy while `held()` is on."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._marker: bytes | None = None
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            for ends in ((client, server, None), (server, client, self._open)):
                threading.Thread(target=self._pipe, args=ends, daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, gate: Any) -> None:
        try:
            while data := source.recv(65536):
                if gate is not None:
                    gate.wait()  # held back: the client hears nothing meanwhile
                elif self._marker is not None and self._marker in data:
                    self.hold()
                sink.sendall(data)
        except OSError:
            pass

    def hold(self) -> None:
        self._open.clear()

    def hold_once_sent(self, marker: bytes) -> None:
        """hold() as soon as the client sends a statement containing `marker`."""
        self._marker = marker

    def let_go(self) -> None:
        self._marker = None
        self._open.set()

    def close(self) -> None:
        self.let_go()
        for each in self._sockets:
            each.close()


@pytest.fixture
def proxy(postgres_server: str) -> Iterator[HeldReplies]:
    parts = urlsplit(postgres_server)
    proxy = HeldReplies(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture
def slow_store(postgres_server: str, postgres_schema: str, proxy: HeldReplies) -> Iterator[Any]:
    parts = urlsplit(postgres_server)
    netloc = parts.netloc.rsplit("@", 1)
    netloc[-1] = f"127.0.0.1:{proxy.port}"
    url = urlunsplit(parts._replace(netloc="@".join(netloc)))
    url = with_option(with_option(url, f"schema={postgres_schema}"), f"application_name={APP}")
    store = open_store(with_option(url, "pool_size=1"))
    store.migrate()
    yield store
    proxy.let_go()
    store.close()


def _in_transaction(admin: Any) -> bool:
    """Whether a connection of the store is in a transaction (idle in it: not running)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = %s AND state LIKE 'idle in transaction%%'"
    )
    return bool(admin.execute(sql, (APP,)).fetchone()[0])


def _statuses(admin: Any, schema: str) -> dict[str, str]:
    found = admin.execute(f'SELECT id, status FROM "{schema}".bb_jobs').fetchall()
    return dict(found)


def _commits_while_away(
    admin: Any, proxy: HeldReplies, call: Callable[[], Any], committed: Callable[[], bool]
) -> Any:
    """Run `call` (a store call) while `proxy` holds the server's replies back, as if the
    worker were descheduled; the server must have committed all the same. Its result."""
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(call)
        try:
            # the transaction waits for the worker, or has committed without it
            wait_until(lambda: _in_transaction(admin) or committed())
            assert not _in_transaction(admin)
            assert committed()
        finally:
            proxy.let_go()
        return running.result(timeout=10)


@pytest.mark.skipif(not PIPELINE, reason="one round trip needs libpq 14 or newer")
@pytest.mark.parametrize("finished", [1, 0], ids=["complete_and_claim", "claim"])
def test_a_completion_and_claim_commit_while_the_worker_is_away(
    slow_store: Any, proxy: HeldReplies, postgres_server: str, postgres_schema: str, finished: int
) -> None:
    slow_store.enqueue([make("first"), make("second"), make("third")])
    done = [Done(r.id, r.token, None) for r in slow_store.claim(None, "w", finished, LEASE)]
    left = ["succeeded"] if finished else ["queued"]
    with psycopg.connect(postgres_server, autocommit=True) as admin:

        def committed() -> bool:
            return sorted(_statuses(admin, postgres_schema).values()) == sorted(
                ["running", "running", *left]
            )

        proxy.hold()  # the worker sends everything, then hears nothing back for a while

        def call() -> Any:
            return slow_store.complete_and_claim(done, None, "w", 2, LEASE)

        accepted, jobs = _commits_while_away(admin, proxy, call, committed)
    assert accepted == [True] * finished and len(jobs) == 2


@pytest.mark.skipif(not PIPELINE, reason="one round trip needs libpq 14 or newer")
def test_a_claim_of_rate_limited_jobs_commits_while_the_worker_is_away(
    slow_store: Any, proxy: HeldReplies, postgres_server: str, postgres_schema: str
) -> None:
    slow_store.enqueue([make(rate_limit=5, rate_period=60.0, rate_key="k") for _ in range(2)])
    with psycopg.connect(postgres_server, autocommit=True) as admin:

        def committed() -> bool:
            return list(_statuses(admin, postgres_schema).values()) == ["running"] * 2

        # claimed under the rate key's advisory lock, in a transaction (claim_limited)
        proxy.hold_once_sent(b"pg_advisory_xact_lock")
        _, jobs = _commits_while_away(
            admin, proxy, lambda: slow_store.complete_and_claim([], None, "w", 2, LEASE), committed
        )
    assert len(jobs) == 2
