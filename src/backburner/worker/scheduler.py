"""The scheduler: turns the ticks of `bb.schedules` into jobs, once per tick.

Every worker supervisor runs one (unless `--no-periodic`), in a thread that sleeps until
the next tick of any schedule. At each tick it reads each schedule's latest stored tick,
decides which ticks are due (`plan`, a pure function of the schedule, that tick, the time
and when this scheduler started) and stores each with its job by `Store.enqueue_tick`,
whose (schedule, tick) key makes the job exist once however many schedulers race.

Missed ticks (no worker ran, or the store was unreachable) follow the schedule's
`misfire` policy within its `catchup` window. A tick counts as on time when it came
while the scheduler ran and is at most `GRACE` seconds old; every other one is missed.
A scheduler that started after a tick leaves it alone while it is at most GRACE old, unless
it runs it anyway (as a missed tick within `catchup`): another scheduler, running since
before the tick, may still store it on time.

The clock is injected (`Clock`): `backburner.testing.FakeClock` drives a scheduler over
days of ticks in a fraction of a second.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .. import signals, tracing
from ..job import ACTIVE, JobRecord
from ..periodic import Schedule
from ..stores.base import Tick
from .quiet import Quietly

if TYPE_CHECKING:
    from ..app import Backburner

log = logging.getLogger("backburner.worker")

GRACE = 5.0
"""Seconds a tick may be late (a busy machine, a slow store) and still count as on time."""
MAX_CATCHUP = 100
"""The most missed ticks of one schedule that misfire="all" enqueues after a downtime."""
MAX_WAIT = 30.0
"""The longest sleep between two looks at the clock (the wall clock may be adjusted)."""
RETRY_AFTER = 1.0
"""Seconds before trying again after the store could not be reached."""
TICK_HISTORY = 86400.0
"""Seconds ticks are kept in the store (each schedule's latest is always kept)."""
PRUNE_EVERY = 300.0


class Clock(Protocol):
    """Where a scheduler reads the time: Unix seconds, as `time.time()`."""

    def time(self) -> float: ...


@dataclass(frozen=True)
class Look:
    """What one look (`Scheduler.run_due`) did: the jobs it stored, oldest tick first,
    and when the next tick of any schedule is due (Unix seconds)."""

    next_at: float
    jobs: list[JobRecord]


@dataclass(frozen=True)
class Planned:
    """A tick to store: enqueue its job, or record it as skipped (a misfire).
    `missed` counts the misfires its row accounts for, itself included when skipped."""

    at: float
    enqueue: bool
    missed: int


def plan(schedule: Schedule, last: Tick | None, now: float, started: float) -> list[Planned]:
    """The ticks of `schedule` to store at `now`, oldest first, given its latest stored
    tick `last` and when this scheduler `started`.

    Ticks after `last` are due. A schedule never ticked, or last ticked under another
    definition (a deploy changed it), starts from when this scheduler started: ticks
    before that are not owed. A due tick is on time if it came while this scheduler ran
    and is at most GRACE old; every other due tick was missed (no worker ran, or the store
    was out of reach), and `schedule.misfire` decides: "skip" (none runs), "latest" (the latest one
    within `catchup` runs), "all" (each within `catchup`, oldest first, the newest
    MAX_CATCHUP of them). Whatever runs, the latest due tick is stored, so the next look
    starts after it; except when none runs and the latest came before this scheduler started,
    at most GRACE ago: then nothing is stored yet (a scheduler that ran at the tick may store
    it on time), and a later look records the misfires if no one did.
    """
    baseline = started if last is None else last.at
    if last is not None and last.definition != schedule.definition:
        baseline = max(last.at, started)
    window = max(schedule.catchup, GRACE)
    older, oldest_latest = 0, baseline
    if baseline < now - window:  # counted, not listed: a long downtime of a fast schedule
        older, oldest_latest = _count(schedule, baseline, now - window)
        baseline = now - window
    due = list(schedule.ticks(baseline, now))
    if not due:
        return [Planned(oldest_latest, enqueue=False, missed=older)] if older else []
    latest = due[-1]
    on_time = [t for t in due if t >= started and now - t <= GRACE]  # a suffix of due
    missed = due[: len(due) - len(on_time)]
    within = [t for t in missed if now - t <= schedule.catchup]
    if schedule.misfire == "all":
        chosen = within[-MAX_CATCHUP:] + on_time
    elif schedule.misfire == "latest":
        chosen = within[-1:] + on_time
    else:
        chosen = on_time
    passed_over = older + len(due) - len(chosen)
    if not chosen:
        if latest < started and now - latest <= GRACE:
            return []  # another scheduler's to store on time, if one ran at the tick
        return [Planned(latest, enqueue=False, missed=passed_over)]
    planned = [Planned(at, enqueue=True, missed=0) for at in chosen]
    planned[0] = Planned(chosen[0], enqueue=True, missed=passed_over)
    if chosen[-1] != latest:  # the next look starts after the latest due tick
        planned.append(Planned(latest, enqueue=False, missed=0))
    return planned


def _count(schedule: Schedule, after: float, until: float, cap: int = 100_000) -> tuple[int, float]:
    """How many ticks in (`after`, `until`] (at most `cap`), and the last of them."""
    count, last = 0, after
    for tick in schedule.ticks(after, until):
        count, last = count + 1, tick
        if count >= cap:
            break
    return count, last


class Scheduler:
    """Stores the due ticks of `bb.schedules` (see the module docstring).

    `run_due()` does one look and returns when the next tick is due; `run()` loops
    until `stop()`. `started` (default: now) is when its worker started: a tick before
    it came while this scheduler was not running, so it was missed. `misfires` counts,
    per schedule, the misfires this scheduler stored (each is stored by exactly one
    scheduler, so the sum over workers is exact): what
    `backburner_periodic_misfires_total{schedule}` exports.
    """

    def __init__(
        self,
        bb: Backburner,
        clock: Clock | None = None,
        schedules: Sequence[Schedule] | None = None,
        started: float | None = None,
        generation: float | None = None,
    ) -> None:
        self.bb = bb
        self.clock: Clock = clock or time
        self.schedules = list(bb.schedules.values() if schedules is None else schedules)
        #: ticks from then on are this scheduler's to store on time (default: now)
        self.started = self.clock.time() if started is None else started
        #: when this scheduler's code started: a newer one's definitions win (Tick docs)
        self.generation = self.started if generation is None else generation
        self.misfires: Counter[str] = Counter()
        self.stored: Counter[str] = Counter()  # jobs this scheduler enqueued, per schedule
        self._stop = threading.Event()
        self._stale: set[str] = set()
        self._next_prune = 0.0

    def stop(self) -> None:
        """Make `run()` return (from any thread)."""
        self._stop.set()

    def run(self) -> None:
        """Store ticks as they come due until `stop()`. Never raises: a failed look (a
        store outage) is logged and tried again RETRY_AFTER seconds later."""
        if not self.schedules:
            return
        quietly = Quietly(log)  # an outage is logged once a minute, and tried every second
        while not self._stop.is_set():
            look = quietly(self.run_due)
            due = self.clock.time() + RETRY_AFTER if look is None else look.next_at
            self._stop.wait(min(MAX_WAIT, max(0.0, due - self.clock.time())))

    def run_due(self) -> Look:
        """Store every due tick now (see `Look`)."""
        now = self.clock.time()
        store = self.bb.store
        last = store.last_ticks([s.name for s in self.schedules])
        jobs: list[JobRecord] = []
        for schedule in self.schedules:
            jobs += self._run_schedule(schedule, last.get(schedule.name), now)
        if now >= self._next_prune:
            store.prune_ticks(now - max(TICK_HISTORY, *(s.catchup for s in self.schedules)))
            self._next_prune = now + PRUNE_EVERY
        jobs.sort(key=lambda r: r.run_at)
        return Look(min((s.after(now) for s in self.schedules), default=math.inf), jobs)

    def _run_schedule(self, schedule: Schedule, last: Tick | None, now: float) -> list[JobRecord]:
        if self._superseded(schedule, last):
            return []
        jobs = []
        previous = None if last is None else last.job_id
        for planned in plan(schedule, last, now, self.started):
            enqueue, missed = planned.enqueue, planned.missed
            if enqueue and not schedule.overlap and self._active(previous):
                enqueue, missed = False, missed + 1  # its previous job still runs: skipped
            # created_at: when the job was made, so created_at - tick is the delay it met
            record = schedule.job_record(planned.at, self.clock.time()) if enqueue else None
            tick = Tick(
                schedule=schedule.name,
                at=planned.at,
                definition=schedule.definition,
                generation=self.generation,
                job_id=previous if record is None else record.id,
                enqueued=enqueue,
                missed=missed,
                recorded_at=now,
            )
            stored, record = self._store(tick, record)
            if not stored:
                continue  # another scheduler stored this tick first
            self.misfires[schedule.name] += missed
            if missed:
                log.info("periodic %s: %d tick(s) missed or skipped", schedule.name, missed)
            if record is not None and self._written(record):
                previous = record.id
                self.stored[schedule.name] += 1
                jobs.append(record)
                signals.send_job(signals.job_enqueued, self.bb, record)
        return jobs

    def _store(self, tick: Tick, record: JobRecord | None) -> tuple[bool, JobRecord | None]:
        """`enqueue_tick`; a job is stored in a PRODUCER span when tracing is on, as by
        `delay()`, and returned carrying its context."""
        tracer = None if record is None else tracing.active()
        if tracer is None:
            return self.bb.store.enqueue_tick(tick, record), record
        assert record is not None
        with tracing.producing(tracer, record) as traced:
            return self.bb.store.enqueue_tick(tick, traced), traced

    def _written(self, record: JobRecord) -> bool:
        """Whether the tick's job was stored, not deduplicated by its `unique_key` (the
        tick then names the live job holding the key)."""
        return record.unique_key is None or self.bb.store.get(record.id, light=True) is not None

    def _superseded(self, schedule: Schedule, last: Tick | None) -> bool:
        """Whether a newer deploy defines this schedule otherwise (its ticks are not ours
        to store); logged once per schedule."""
        newer = (
            last is not None
            and last.definition != schedule.definition
            and last.generation > self.generation
        )
        if newer and schedule.name not in self._stale:
            assert last is not None
            log.warning(
                "periodic %s: a newer worker defines it as %s (here %s); leaving it to them",
                schedule.name,
                last.definition,
                schedule.definition,
            )
        (self._stale.add if newer else self._stale.discard)(schedule.name)
        return newer

    def _active(self, job_id: str | None) -> bool:
        if job_id is None:
            return False
        record = self.bb.store.get(job_id, light=True)
        return record is not None and record.status in ACTIVE


class SchedulerThread:
    """A supervisor's scheduler, in a thread of its own: `follow(bb)` runs one for `bb`'s
    schedules (a reload hands it the freshly imported app: a new scheduler, a newer
    generation); `stop()` ends it."""

    def __init__(self) -> None:
        #: misfires stored per schedule since the worker started, across reloads: what
        #: `backburner_periodic_misfires_total{schedule}` exports
        self.misfires: Counter[str] = Counter()
        self.scheduler: Scheduler | None = None
        self._thread: threading.Thread | None = None
        self._bb: Backburner | None = None

    def follow(self, bb: Backburner, started: float) -> None:
        """Schedule `bb.schedules` (nothing if it is the app already followed); `started`
        is when the worker started, used for the first app only: a reload's app starts
        when it is followed."""
        if bb is self._bb:
            return
        if self._bb is not None:
            started = time.time()
        self.stop()
        self._bb = bb
        if not bb.schedules:
            return
        self.scheduler = Scheduler(bb, started=started)
        self.scheduler.misfires = self.misfires
        log.info(
            "periodic: %s", ", ".join(f"{s.name} ({s.expression})" for s in bb.schedules.values())
        )
        self._thread = threading.Thread(
            target=self.scheduler.run, name="backburner-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the scheduler and wait (up to `timeout` s) for a store call in flight."""
        if self.scheduler is not None:
            self.scheduler.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self.scheduler = self._thread = None
