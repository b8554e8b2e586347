"""Wake-ups for the PostgreSQL store: one LISTEN connection per process, read by a thread.

Enqueue (and every other change that makes a job pending) calls `pg_notify(channel,
queue)` in its own transaction, so the notification is delivered when it commits. The
thread turns notifications into a generation counter that waiting threads watch.

Notifications are only a hint: a LISTEN connection can die without a word (a restarted
server, a dropped NAT entry), and notifications sent while it is down are lost. So
waiters bound every wait and look at the table again, the thread pings a quiet
connection and reconnects after any error, and a reconnect wakes every waiter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger("backburner.store")

_SLICE = 0.25  # how often the thread looks up from the socket to notice stop()
_PING_AFTER = 30.0  # seconds of silence after which the connection is checked
_MAX_BACKOFF = 5.0


class Listener:
    """Listens on `channel` in a daemon thread; `wait()` blocks until news or timeout."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], channel: str) -> None:
        self._connect = connect
        self._channel = channel
        self._cond = threading.Condition()
        self._generation = 0
        self._everything = 0  # generation of the last "anything may have changed"
        self._latest: dict[str, int] = {}  # queue -> generation of its last notification
        self._stop = threading.Event()
        self._stopped_waiting = False  # stop_waiting() was called: waits return at once
        self._tried = threading.Event()  # set once the first connection attempt ended
        self._thread = threading.Thread(target=self._run, name="backburner-listen", daemon=True)
        self._thread.start()

    def ready(self, timeout: float) -> None:
        """Wait up to `timeout` for the first LISTEN, so no commit slips past unseen."""
        self._tried.wait(timeout)

    def mark(self) -> int:
        """A point in the notification stream: take it *before* looking at the table."""
        with self._cond:
            return self._generation

    def wait(self, since: int, queues: Sequence[str] | None, timeout: float) -> bool:
        """Block until something relevant to `queues` was notified after `since`, or
        `timeout` seconds pass. Returns whether there was news."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._news(since, queues):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stop_waiting(self) -> None:
        """End every `wait` (and `ready`) now, and make later ones return at once."""
        with self._cond:
            self._stopped_waiting = True
            self._cond.notify_all()
        self._tried.set()  # nobody needs to wait for the first LISTEN any more

    def _news(self, since: int, queues: Sequence[str] | None) -> bool:
        if self._stopped_waiting or self._everything > since:
            return True
        if queues is None:
            return self._generation > since
        return any(self._latest.get(q, 0) > since for q in queues)

    def _publish(self, queue: str | None) -> None:
        with self._cond:
            self._generation += 1
            if queue is None:
                self._everything = self._generation
            else:
                self._latest[queue] = self._generation
            self._cond.notify_all()

    def _run(self) -> None:
        backoff = 0.1
        failing = False
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                self._tried.set()
                # notifications sent while we were not listening are lost: look again
                self._publish(None)
                backoff, failing = 0.1, False
                self._pump(conn)
            except Exception as exc:
                # never let the thread die: waiters fall back to polling meanwhile
                (log.debug if failing else log.warning)(
                    "backburner LISTEN connection failed (retrying in %.1fs): %s", backoff, exc
                )
                failing = True
            finally:
                self._tried.set()
                if conn is not None:
                    conn.close()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _pump(self, conn: psycopg.Connection[Any]) -> None:
        quiet_since = time.monotonic()
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=_SLICE):
                self._publish(notify.payload)
                quiet_since = time.monotonic()
            if time.monotonic() - quiet_since > _PING_AFTER:
                conn.execute("SELECT 1")  # raises if the connection died silently
                quiet_since = time.monotonic()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread; it closes its connection on the way out."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)


class Polling:
    """A Listener that never hears anything: `wait()` sleeps out its timeout, so waiters
    look at the table every `poll` seconds. For PgBouncer in transaction pooling mode
    without a direct URL to LISTEN on (LISTEN needs a session of its own)."""

    def __init__(self) -> None:
        self._stopped_waiting = threading.Event()

    def ready(self, timeout: float) -> None:
        """Nothing to wait for."""

    def mark(self) -> int:
        return 0

    def wait(self, since: int, queues: Sequence[str] | None, timeout: float) -> bool:
        return self._stopped_waiting.wait(max(0.0, timeout))

    def stop_waiting(self) -> None:
        """End every `wait` now, and make later ones return at once."""
        self._stopped_waiting.set()

    def stop(self, timeout: float = 1.0) -> None:
        """Nothing to stop."""
