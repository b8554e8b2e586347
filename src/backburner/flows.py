"""Bulk enqueue and workflows: `Call` (a job not stored yet), `enqueue_many`, `chain` and
`group`. Each stores every job of the call with one `Store.enqueue`: one transaction (one
script on Redis), so all of them or none. Dependencies are kept and resolved by the stores
(see `stores.deps`); this module only says who depends on whom.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from . import signals, tracing
from .job import Job, JobRecord, JobStatus, new_id

if TYPE_CHECKING:
    from .app import Backburner
    from .task import Task


@dataclass(frozen=True)
class Call:
    """A call of a task with its arguments and options, not stored yet: `task.s(...)`.

    The arguments were checked and encoded when it was made; each `enqueue_many`, `chain`
    or `group` it is given to stores a new job of it."""

    task: Task[..., Any]
    payload: str  # codec JSON of the arguments
    misfit: str | None = None  # why the arguments fit only with a first one added (`then`)
    then_misfit: str | None = None  # why they do not fit with the results added first
    #: its limits and their keys, worked out from the arguments when it was made; None
    #: for a call that fits only as a group's `then` (its keys are worked out when it is
    #: stored, from the arguments given here: the results are not known yet)
    flow: Mapping[str, Any] | None = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Call {self.task.name} {self.payload}>"

    def record(self, depends_on: tuple[str, ...] = (), takes_results: bool = False) -> JobRecord:
        """A new job of this call (a fresh id each time)."""
        if self.misfit is not None and not takes_results:
            raise TypeError(f"{self.task.name}.s(): {self.misfit}")
        if self.then_misfit is not None and takes_results:
            raise TypeError(
                f"{self.task.name}.s() as a group's then, given the results first: "
                f"{self.then_misfit}"
            )
        flow = self.flow
        if flow is None:
            flow = self.task._flow_control(self.args, dict(self.kwargs))
        return self.task.record(self.payload, None, depends_on, takes_results, flow)


class Group(NamedTuple):
    """What `bb.group()` returns: the group's jobs in order, and its `then` job (or None)."""

    jobs: list[Job]
    then: Job | None


def _calls(calls: Iterable[Call], what: str) -> list[Call]:
    found = list(calls)
    for call in found:
        if not isinstance(call, Call):
            raise TypeError(f"{what} takes calls made with task.s(...), got {call!r}")
    return found


def enqueue_many(bb: Backburner, calls: Iterable[Call]) -> list[Job]:
    """Store a job per call, all in one transaction or none; the jobs in order."""
    now = time.time()
    shared: dict[int, dict[str, Any]] = {}  # per task object: what its jobs share
    records = []
    for call in _calls(calls, "enqueue_many()"):
        if call.misfit is not None:
            call.record()  # raises TypeError, saying why
        fields = shared.get(id(call.task))
        if fields is None:
            fields = shared[id(call.task)] = call.task.record_fields()
        records.append(
            JobRecord.fresh(
                id=new_id(),
                payload=call.payload,
                status=JobStatus.QUEUED,
                run_at=now,
                created_at=now,
                **fields,
                **(call.flow or {}),
            )
        )
    return submit(bb, records)


def chain(bb: Backburner, calls: Sequence[Call]) -> list[Job]:
    """Store a job per call, each depending on the one before, all or none."""
    records: list[JobRecord] = []
    for call in _calls(calls, "chain()"):
        records.append(call.record(depends_on=(records[-1].id,) if records else ()))
    return submit(bb, records)


def group(bb: Backburner, calls: Iterable[Call], then: Call | None) -> Group:
    """Store a job per call and `then`, depending on all of them and given their results
    in order as its first argument; all or none."""
    records = [c.record() for c in _calls(calls, "group()")]
    if then is None:
        return Group(submit(bb, records), None)
    [then] = _calls([then], "group(then=...)")
    if then.task.opts.depends_on:
        raise ValueError(
            "group(then=...) depends on the group's jobs only: its results are theirs; "
            "give the other dependencies to the group's jobs instead"
        )
    last = then.record(depends_on=tuple(r.id for r in records), takes_results=True)
    *jobs, then_job = submit(bb, [*records, last])
    return Group(jobs, then_job)


def submit(bb: Backburner, records: list[JobRecord]) -> list[Job]:
    """Store `records` in one `Store.enqueue` and announce them; in eager mode run each in
    order once stored (a dependent runs once its dependencies did)."""
    eager, raise_errors = bb.eager_mode()
    if eager and bb.hold_eager(lambda: _submit(bb, records, eager, raise_errors)):
        return [Job(bb, r) for r in records]
    return _submit(bb, records, eager, raise_errors)


def _submit(bb: Backburner, records: list[JobRecord], eager: bool, raise_errors: bool) -> list[Job]:
    """`_store` in a PRODUCER span when tracing is on (see `tracing`): "send <task>" for
    one job (a `delay()`), one "send" span for a batch."""
    tracer = tracing.active()
    if tracer is None:
        return _store(bb, records, eager, raise_errors)
    if len(records) == 1:
        with tracing.producing(tracer, records[0]) as traced:
            return _store(bb, [traced], eager, raise_errors)
    with tracing.producing_many(tracer, records) as batch:
        return _store(bb, batch, eager, raise_errors)


def _store(bb: Backburner, records: list[JobRecord], eager: bool, raise_errors: bool) -> list[Job]:
    ids = bb.store.enqueue(records)
    stored = [r for r, job_id in zip(records, ids) if job_id == r.id]
    if signals.job_enqueued.receivers:
        for record in stored:
            signals.send_job(signals.job_enqueued, bb, record)
    if eager:
        from .worker.runner import run_eagerly

        for record in stored:
            run_eagerly(bb, record, raise_errors=raise_errors)
    jobs = []
    for record, job_id in zip(records, ids):
        # read again: a deduplicated job (unique_key), or one whose status its
        # dependencies decide (waiting, queued or cancelled at once), or one run eagerly
        fresh = record if job_id == record.id and not (eager or record.depends_on) else None
        jobs.append(Job(bb, fresh or bb.store.get(job_id) or record))
    return jobs
