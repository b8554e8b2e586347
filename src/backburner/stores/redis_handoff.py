"""Direct hand-off on Redis: an enqueue gives its job, already claimed, to a worker
blocked waiting for work, so the worker starts it without a claim round trip.

An idle worker otherwise learns of a job from a wake-up token, then claims it: two hops
after the enqueue. Here the peek script that finds nothing to claim registers the
waiting thread (its hand id, worker id, lease, queues, and until when it waits) in
{p}:idlers, and the thread BLPOPs its own list {p}:hand:<hand id> besides the wake-up
lists. An enqueue of one job hands it over only when that job would be the worker's next
claim anyway: due, without limits, in an unpaused queue with nothing due in it, and no
work made due in the worker's queues since it looked (every wake-up forgets the waiters
of its queue). The enqueue claims the job as a claim would (running, attempt 1, a new
token, a lease) and pushes it whole to the worker's list.

Nothing is lost when the worker is gone: the job is leased like any claimed job, so its
lease lapses and it is rescued. A thread that stopped waiting before the job arrived
(its BLPOP timed out) finds it in its next claim, which also ends its registration.

A worker that stops wakes its own waiting threads (`Halts`): each also BLPOPs a list of
its own, {p}:halt:<hand id>, which `stop_waiting` pushes to. A thread woken so ends its
registration before it returns, so no job is handed to a thread that stopped waiting.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field

from ..job import JobRecord
from .forks import on_fork_in_child

HALT_TTL_MS = 60_000  # a halt list left behind (its thread had stopped waiting) expires


@dataclass
class Waiter:
    """One thread's side of the hand-off."""

    hand: str  # names its list and its registration
    pid: int
    worker_id: str = ""  # of its last claim: "" until it claimed once (then it may wait)
    lease_s: float = 0.0
    registered: bool = False  # may still be registered: the next claim ends it
    handed: list[JobRecord] = field(default_factory=list)  # taken off its list, not claimed


class HandOffs:
    """Each thread's Waiter, made anew in a forked child (it is another waiter)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def mine(self) -> Waiter:
        waiter: Waiter | None = getattr(self._local, "waiter", None)
        if waiter is None or waiter.pid != os.getpid():
            waiter = Waiter(secrets.token_hex(8), os.getpid())
            self._local.waiter = waiter
        return waiter


class Halts:
    """The halt lists of this process's threads blocked waiting for work, for
    `stop_waiting` to push to, and whether it was called (then no wait blocks)."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._waiting: set[str] = set()
        self._lock = threading.Lock()  # a stop either sees a waiter, or the waiter sees it
        on_fork_in_child(self, Halts._after_fork)

    def _after_fork(self) -> None:
        # the parent's waiting threads and stop are not this process's; a parent thread
        # may have held the lock at fork()
        self.stopped = threading.Event()
        self._waiting = set()
        self._lock = threading.Lock()

    def enter(self, key: str) -> bool:
        """Before a BLPOP that includes the halt list `key`: False if stopped (then do
        not block), else `leave(key)` after it."""
        with self._lock:
            if self.stopped.is_set():
                return False
            self._waiting.add(key)
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._waiting.discard(key)

    def stop(self) -> list[str]:
        """Stop for good; returns the halt lists of the threads waiting now."""
        with self._lock:
            self.stopped.set()
            return sorted(self._waiting)
