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
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field

from ..job import JobRecord


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
