"""`bb.explain(job_id)`: why a job is or is not running now, in a sentence or two.

What the store knows is gathered into `Facts`, each fact read from the store when a reason
first asks for it (a finished job costs one read). A reason is a function over the facts
that returns an `Explanation` (a code, the sentence, and the facts it rests on, for
`--json`) when it applies, else None. `REASONS` lists them in order; the first that applies
answers. So a new reason is one function, one place in that list, and, if it needs
something new from the store, one more `Facts` property.

Flow control has its reasons in that order too: a paused queue (`bb.pause`) is told
before anything about workers, as it holds every due job of the queue; full concurrency
slots (held by which jobs) and a full rate window (until when) after `no_worker`, before
`behind`: the job is due and a live worker could take it, but a limit holds it back.

A job no reason accounts for (a status added later, say) is described by `fallback`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import policy
from .job import JobRecord, JobStatus
from .stores.base import Link, WorkerInfo
from .stores.deps import DEPENDENCY_FAILED

if TYPE_CHECKING:
    from .app import Backburner

AHEAD_CAP = 1000  # jobs ahead counted at most: above that, "more than 1000"
LIVE_LEASES = 3  # a worker is live if it heartbeated within this many leases (as `status`)
SHOWN_TASKS = 5  # task names listed when no live worker knows a job's task
SHOWN_DEPS = 5  # dependencies named when a job waits on them


@dataclass(frozen=True)
class Explanation:
    """Why a job is where it is: a `reason` code, the `sentence` people read, and the
    `facts` (JSON-ready) it rests on."""

    reason: str
    sentence: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The explanation as JSON data: reason and sentence, then the facts (job_id,
        status, and those of the reason)."""
        return {"reason": self.reason, "sentence": self.sentence, **self.facts}


class Facts:
    """What the store knows about one job and the workers that could run it, read from
    the store on first use and kept for the rest of the explanation."""

    def __init__(self, bb: Backburner, job_id: str) -> None:
        self.bb = bb
        self.job_id = job_id
        self.now = time.time()

    @cached_property
    def record(self) -> JobRecord | None:
        """The job, or None when the store has no such job."""
        return self.bb.store.get(self.job_id)

    @property
    def job(self) -> JobRecord:
        """The job, for reasons that run once `not_found` did not apply."""
        assert self.record is not None
        return self.record

    @cached_property
    def workers(self) -> list[WorkerInfo]:
        """Live workers: those that heartbeated within the last LIVE_LEASES leases."""
        alive_since = self.now - LIVE_LEASES * self.bb.settings.lease
        return self.bb.store.list_workers(alive_since=alive_since)

    @cached_property
    def serving(self) -> list[WorkerInfo]:
        """Live workers that claim from the job's queue (one listing no queues serves all)."""
        return [w for w in self.workers if not w.queues or self.job.queue in w.queues]

    @cached_property
    def ahead(self) -> int:
        """Due jobs of its queue a claim takes before this one, up to AHEAD_CAP + 1."""
        return self.bb.store.count_ahead(self.job_id, AHEAD_CAP + 1)

    @cached_property
    def paused(self) -> bool:
        """Whether the job's queue is paused."""
        return self.job.queue in self.bb.store.paused_queues()

    @cached_property
    def dependencies(self) -> list[Link]:
        """The jobs it depends on, in the order given, with their statuses."""
        return self.bb.store.dependencies(self.job_id)

    def base(self) -> dict[str, Any]:
        """The facts every explanation of a stored job gives."""
        r = self.job
        return {
            "job_id": r.id,
            "status": r.status.value,
            "task": r.task,
            "queue": r.queue,
            "attempts": r.attempts,
            "max_attempts": r.max_attempts,
        }


Reason = Callable[[Facts], Explanation | None]


# -- the reasons, in the order REASONS asks them ------------------------------------------
def not_found(f: Facts) -> Explanation | None:
    """No job with this id."""
    if f.record is not None:
        return None
    return Explanation(
        "not_found",
        f"No job {f.job_id!r} in this store: check the id, and that the app names the store "
        "the job was enqueued in.",
        {"job_id": f.job_id, "status": None},
    )


def finished(f: Facts) -> Explanation | None:
    """Succeeded, failed, or cancelled: when, and how."""
    r = f.job
    if not r.status.finished:
        return None
    at = when(r.finished_at, f.now)
    facts = {**f.base(), "finished_at": r.finished_at, "error": first_line(r.error)}
    if r.status is JobStatus.SUCCEEDED:
        return Explanation("succeeded", f"Succeeded at {at}, on attempt {r.attempts}.", facts)
    if r.status is JobStatus.FAILED:
        return Explanation(
            "failed",
            f"Failed at {at} after {plural(r.attempts, 'attempt')}: {facts['error']}",
            facts,
        )
    if ended_running(r):
        sentence = f"Cancelled at {at}, while running: {facts['error']}"
    elif (r.error or "").startswith(f"{DEPENDENCY_FAILED}:"):
        sentence = f"Cancelled at {at}, before it ran: {facts['error']}"
    else:
        sentence = f"Cancelled at {at}, before it ran{' again' if r.attempts else ''}."
        facts["error"] = None  # an earlier attempt's, not why it was cancelled
    return Explanation("cancelled", sentence, facts)


def running(f: Facts) -> Explanation | None:
    """Running: on which worker, since when, its lease, and any cancel asked of it."""
    r = f.job
    if r.status is not JobStatus.RUNNING:
        return None
    worker = worker_of(r, f.workers)
    facts = {
        **f.base(),
        "worker_id": r.worker_id,
        "host": worker.host if worker else None,
        "pid": worker.pid if worker else None,
        "started_at": r.started_at,
        "lease_until": r.lease_until,
        "cancel_requested": r.cancel_requested,
        "cancel_grace": r.cancel_grace,
    }
    where = f" (host {worker.host}, pid {worker.pid})" if worker else ""
    sentence = f"Running on worker {r.worker_id}{where} since {when(r.started_at, f.now)}"
    lease = when(r.lease_until, f.now)
    if r.lease_until is not None and r.lease_until < f.now:
        sentence += f"; its lease lapsed at {lease}, so a live worker will rescue it shortly."
    elif worker is None:
        sentence += (
            f", but that worker has not been seen alive lately: if it died, the job is "
            f"rescued once its lease lapses at {lease}."
        )
    else:
        sentence += f", its lease held until {lease}."
    if r.cancel_grace is not None:
        sentence += (
            f" It was cancelled by force: its worker stops it if it has not returned "
            f"{r.cancel_grace:g} s after telling it."
        )
    elif r.cancel_requested:
        sentence += " Cancel was requested: it will not be retried."
    return Explanation("running", sentence, facts)


def waiting(f: Facts) -> Explanation | None:
    """Held by its dependencies (`options(depends_on=...)`): which have not succeeded."""
    r = f.job
    if r.status is not JobStatus.WAITING:
        return None
    pending = [d for d in f.dependencies if d.status is not None and not d.status.finished]
    shown = ", ".join(f"{d.job_id} ({d.task}, {_status(d)})" for d in pending[:SHOWN_DEPS])
    more = f" and {len(pending) - SHOWN_DEPS} more" if len(pending) > SHOWN_DEPS else ""
    sentence = (
        f"Waiting for {plural(len(pending), 'dependency', 'dependencies')} to succeed: "
        f"{shown}{more}; it is queued the moment the last one does."
        if pending
        else "Waiting for its dependencies, which have all ended: it is queued at once."
    )
    facts = {**f.base(), "waiting_on": [d.to_json() for d in pending]}
    return Explanation("waiting", sentence, facts)


def paused(f: Facts) -> Explanation | None:
    """Its queue is paused: nothing of it is claimed until `resume`."""
    r = f.job
    if r.status not in (JobStatus.QUEUED, JobStatus.SCHEDULED) or not f.paused:
        return None
    due = "is due" if r.status is JobStatus.QUEUED else f"is due at {when(r.run_at, f.now)}"
    return Explanation(
        "paused",
        f"Queue {r.queue!r} is paused: it {due}, but no worker claims from that queue until "
        f"it is resumed (backburner resume APP {r.queue}).",
        {**f.base(), "run_at": r.run_at},
    )


def concurrency_full(f: Facts) -> Explanation | None:
    """Due, but every concurrency slot of its key is held by a running job."""
    r = f.job
    if r.status is not JobStatus.QUEUED or r.concurrency is None or r.concurrency_key is None:
        return None
    holders = f.bb.store.concurrency_holders(r.concurrency_key)
    if len(holders) < r.concurrency:
        return None
    shown = ", ".join(holders[:SHOWN_DEPS]) + (", ..." if len(holders) > SHOWN_DEPS else "")
    return Explanation(
        "concurrency_full",
        f"Due, but its {plural(r.concurrency, 'concurrency slot')} of key "
        f"{r.concurrency_key!r} {'is' if r.concurrency == 1 else 'are all'} held by running "
        f"job(s) {shown}: it starts when one of them ends.",
        {
            **f.base(),
            "concurrency": r.concurrency,
            "concurrency_key": r.concurrency_key,
            "holders": holders,
        },
    )


def rate_full(f: Facts) -> Explanation | None:
    """Due, but the sliding window of its rate key has no room for another start."""
    r = f.job
    if r.status is not JobStatus.QUEUED or r.rate_limit is None or r.rate_key is None:
        return None
    until = f.bb.store.rate_window_until(r.rate_key, r.rate_limit)
    if until is None:
        return None
    period = f"{r.rate_period:g} s" if r.rate_period is not None else "its period"
    return Explanation(
        "rate_full",
        f"Due, but rate key {r.rate_key!r} had its {r.rate_limit} start(s) per {period} "
        f"already: the window has room again at {when(until, f.now)}.",
        {
            **f.base(),
            "rate_limit": r.rate_limit,
            "rate_period": r.rate_period,
            "rate_key": r.rate_key,
            "until": until,
        },
    )


def scheduled(f: Facts) -> Explanation | None:
    """Not due yet: when it will be, and after which failure if it is a retry."""
    r = f.job
    if r.status is not JobStatus.SCHEDULED:
        return None
    at = when(r.run_at, f.now)
    facts = {**f.base(), "run_at": r.run_at, "error": None}
    if r.attempts and r.failures:
        facts["error"] = first_line(r.error)
        sentence = (
            f"Attempt {r.attempts + 1} of {r.max_attempts} is scheduled for {at}, after "
            f"attempt {r.attempts} failed: {facts['error']}"
        )
    else:
        sentence = f"Scheduled for {at}."
    return Explanation("scheduled", sentence, facts)


def no_worker(f: Facts) -> Explanation | None:
    """Due, but no live worker claims from its queue."""
    r = f.job
    if r.status is not JobStatus.QUEUED or f.serving:
        return None
    return Explanation(
        "no_worker",
        f"Due since {when(r.run_at, f.now)}, but no live worker serves queue {r.queue!r}: "
        f"start one (backburner worker APP --queues {r.queue}).",
        {**f.base(), "run_at": r.run_at, "live_workers": len(f.workers)},
    )


def unknown_task(f: Facts) -> Explanation | None:
    """Live workers serve its queue, but none knows its task: due, or handed back by one
    of them to wait a little (`policy.unknown_task`) before another tries."""
    r = f.job
    handed_back = (r.error or "").startswith(f"{policy.UNKNOWN_TASK}:")
    if r.status is not JobStatus.QUEUED and not (r.status is JobStatus.SCHEDULED and handed_back):
        return None
    if not f.serving or any(r.task in w.tasks for w in f.serving):
        return None
    known = sorted({t for w in f.serving for t in w.tasks})
    shown = ", ".join(known[:SHOWN_TASKS]) + (", ..." if len(known) > SHOWN_TASKS else "")
    return Explanation(
        "unknown_task",
        f"None of the live workers serving queue {r.queue!r} ({len(f.serving)}) knows task "
        f"{r.task!r}; they know {shown or 'no task'}: deploy the code that defines it, or make "
        "the workers' app import its module.",
        {**f.base(), "serving_workers": len(f.serving), "known_tasks": known},
    )


def behind(f: Facts) -> Explanation | None:
    """Due, and waiting for the jobs a claim takes first."""
    r = f.job
    if r.status is not JobStatus.QUEUED or f.ahead == 0:
        return None
    capped = f.ahead > AHEAD_CAP
    count = f"more than {AHEAD_CAP}" if capped else str(f.ahead)
    return Explanation(
        "behind",
        f"Waiting behind {count} due job(s) of higher or equal priority in queue "
        f"{r.queue!r}, which {served_by(len(f.serving))}.",
        {
            **f.base(),
            "ahead": min(f.ahead, AHEAD_CAP),
            "more_ahead": capped,
            "serving_workers": len(f.serving),
        },
    )


def next_in_line(f: Facts) -> Explanation | None:
    """Due, first in line, and a live worker that knows its task serves its queue."""
    r = f.job
    if r.status is not JobStatus.QUEUED:
        return None
    busy = sum(len(w.jobs) for w in f.serving)
    return Explanation(
        "next",
        f"Due and next in line in queue {r.queue!r}, which {served_by(len(f.serving))}: it "
        f"starts as soon as one has a free thread (they hold {plural(busy, 'running job')}).",
        {**f.base(), "serving_workers": len(f.serving), "running_jobs": busy},
    )


def fallback(f: Facts) -> Explanation:
    """A job no reason accounts for: its status, as a sentence."""
    return Explanation("other", f"The job is {f.job.status.value}.", f.base())


REASONS: Sequence[Reason] = (
    not_found,
    finished,
    running,
    waiting,
    paused,
    unknown_task,
    scheduled,
    no_worker,
    concurrency_full,
    rate_full,
    behind,
    next_in_line,
)


def explain(bb: Backburner, job_id: str) -> Explanation:
    """Why job `job_id` of `bb`'s store is or is not running now (see the module doc)."""
    facts = Facts(bb, job_id)
    for reason in REASONS:
        found = reason(facts)
        if found is not None:
            return found
    return fallback(facts)


# -- wording --------------------------------------------------------------------------
def when(ts: float | None, now: float) -> str:
    """ "2026-11-30 21:05:03 UTC (in 4 min 59 s)", or "(12 s ago)"."""
    if ts is None:
        return "an unknown time"
    stamp = datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = ts - now
    span = duration(abs(delta))
    return f"{stamp} ({'in ' + span if delta > 0 else span + ' ago'})"


def duration(seconds: float) -> str:
    """A span of time as people say it: "0.4 s", "12 s", "4 min 59 s", "2 h 5 min", "3 d 4 h"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60)):
        if s >= size:
            return f"{s // size} {unit} {s % size // sub_size} {sub}"
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def _status(link: Link) -> str:
    return "purged" if link.status is None else link.status.value


def served_by(n: int) -> str:
    return f"{plural(n, 'live worker')} {'serves' if n == 1 else 'serve'}"


def first_line(text: str | None) -> str | None:
    return text.splitlines()[0] if text else None


def ended_running(r: JobRecord) -> bool:
    """Whether a cancelled job ended while an attempt ran: its last failure is that
    attempt's end (the task stopped on request, or was stopped by force)."""
    return bool(r.failures) and r.failures[-1].at == r.finished_at


def worker_of(r: JobRecord, workers: Sequence[WorkerInfo]) -> WorkerInfo | None:
    """The live worker whose child holds `r` (a child's worker id is "<worker>#<n>")."""
    owner = (r.worker_id or "").split("#", 1)[0]
    return next((w for w in workers if w.id == owner), None)
