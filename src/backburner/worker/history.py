"""The outcome history a worker keeps in the store for the dashboard's charts (issue 19):
how many attempts ended succeeded, retried, failed, cancelled or lapsed, per UTC minute
and queue.

The supervisor counts every attempt where it feeds its metrics (the children's `Ran`
reports, and the attempts it ends itself), in memory, and adds the counts to the store
every FLUSH_EVERY seconds and when it stops: one `add_history` call per flush, never one
per job. Stores sum what every worker adds (an upsert), so the figures survive restarts
and cover the whole fleet. About once an hour it deletes minutes older than KEEP.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import metrics
from ..job import JobRecord, JobStatus

if TYPE_CHECKING:
    from ..stores import Store
    from .quiet import Quietly

FLUSH_EVERY = 10.0  # seconds between writes of the counts
PRUNE_EVERY = 3600.0  # seconds between deletions of old minutes
KEEP = 8 * 86400.0  # seconds of history kept: the day chart, and a week before it


class OutcomeHistory:
    """The counts not yet in the store, per (minute, queue, outcome)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[float, str, str], int] = {}
        self.next_flush = time.monotonic() + FLUSH_EVERY
        self.next_prune = time.monotonic()  # at the first flush

    def count(self, queue: str, outcome: str) -> None:
        """One attempt of `queue` ended now as `outcome` (a `metrics` outcome)."""
        now = time.time()
        key = (now - now % 60, queue, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1

    def ended(self, record: JobRecord | None, status: JobStatus | None, lapsed: bool) -> None:
        """An attempt the supervisor ended (as `Exporter.ended` takes it)."""
        if record is None or status is None:
            return
        outcome = metrics.LAPSED if lapsed else metrics.OUTCOME_OF.get(status)
        if outcome is not None:
            self.count(record.queue, outcome)

    def flush(self, store: Store, quietly: Quietly, *, now: float, force: bool = False) -> None:
        """Add the counts to the store when FLUSH_EVERY has passed (or `force`), and prune
        when PRUNE_EVERY has; `now` is time.monotonic(). A failed write keeps the counts
        for the next flush."""
        if not force and now < self.next_flush:
            return
        self.next_flush = now + FLUSH_EVERY
        if self.counts:
            pending, self.counts = self.counts, {}
            if quietly(_add, store, pending) is None:
                for key, n in pending.items():
                    self.counts[key] = self.counts.get(key, 0) + n
        if now >= self.next_prune and quietly(store.prune_history, time.time() - KEEP) is not None:
            self.next_prune = now + PRUNE_EVERY


def _add(store: Store, counts: dict[tuple[float, str, str], int]) -> bool:
    """`store.add_history`, True once done (Quietly answers None for a failure)."""
    store.add_history(counts)
    return True


_add.__name__ = "add_history"  # as Quietly names the call in its warning
