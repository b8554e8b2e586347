"""Result expiry (Store.prune) for the supervisor, in a thread of its own.

A prune deletes in chunks (each its own transaction or script, so workers' claims get
in between), but all of them together can take minutes: a million expired jobs take
15 to 60 seconds on this project's benchmark machine. Run in the supervisor's loop, that
would hold back the heartbeats of its children's leases (lapsing past the lease, their
jobs are rescued and run twice) and the reading of their reports (their pipes fill and
they stop). So the loop only starts a prune; this thread runs it, one at a time.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .quiet import Quietly

if TYPE_CHECKING:
    from ..stores.base import Store

PRUNE_EVERY = 60.0  # seconds from the end of one successful prune to the next


class Expiry:
    """`due(store, now)` at every tick: starts a prune when one is due and none runs."""

    def __init__(self, quietly: Quietly) -> None:
        self._quietly = quietly
        self._thread: threading.Thread | None = None
        #: time.monotonic() from which the next prune may start; a failed prune leaves
        #: it, so it is tried again at the next tick, not PRUNE_EVERY later
        self.next_at = 0.0

    def due(self, store: Store, now: float) -> None:
        if self.running() or time.monotonic() < self.next_at:
            return
        # a daemon: a worker that stops does not wait for the prune's last chunks
        self._thread = threading.Thread(
            target=self._prune, args=(store, now), name="backburner-expiry", daemon=True
        )
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running prune, if any (for tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _prune(self, store: Store, now: float) -> None:
        if self._quietly(store.prune, now) is not None:
            self.next_at = time.monotonic() + PRUNE_EVERY
