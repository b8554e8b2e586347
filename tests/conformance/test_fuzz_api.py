"""Fuzzing every public argument against every store.

The contract, for each argument: a wrong value raises TypeError or ValueError naming the
argument, and nothing is stored; any other value is stored and reads back exactly, and the
job then ends in a sane state (succeeded or failed, or scheduled for a finite time: never
stuck queued or running). Each example checks the store's job count before and after.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backburner import Backburner, Job, JobRecord, JobStatus, Retry, codec, current_job
from backburner.testing import drain
from backburner.worker.runner import run_claimed

from ..fuzz import (
    STORE_FUZZ,
    anything,
    assert_same,
    big_ints,
    clean_text,
    nasty_text,
    odd_floats,
    round_trippable,
    wrong_types,
)

ENDED = {JobStatus.SUCCEEDED, JobStatus.FAILED}


@dataclass
class Plan:
    """What the fuzz tasks do in the current example (set by the test before it enqueues)."""

    retry_delay: Any = None
    progress: tuple[Any, Any, Any] = (0, None, None)
    refusals: list[Exception] = field(default_factory=list)
    error_text: str = ""


@pytest.fixture
def plan() -> Plan:
    return Plan()


@pytest.fixture
def bb(store_url: str, plan: Plan) -> Iterator[Backburner]:
    """A Backburner on a fresh store of each backend, with the tasks the fuzz tests run."""
    app = Backburner(store_url)

    @app.task(name="fuzz.echo", retries=0)
    def echo(*args: Any, **kwargs: Any) -> Any:
        return (args, kwargs)

    @app.task(name="fuzz.retry", retries=1)
    def again() -> str:
        if current_job.attempt == 1:
            raise Retry(delay=plan.retry_delay)
        return "done"

    @app.task(name="fuzz.progress", retries=0)
    def report() -> str:
        try:
            current_job.set_progress(*plan.progress)
        except (TypeError, ValueError) as exc:
            plan.refusals.append(exc)
        return "ok"

    @app.task(name="fuzz.fail", retries=0)
    def fail() -> None:
        raise ValueError(plan.error_text)

    yield app
    app.close()


def known_bug(request: pytest.FixtureRequest, reason: str, *backends: str) -> None:
    """Mark this test an expected failure (not strict) on `backends` (all when none are
    named): a bug that issue 13 lists, and whose fix is under way in parallel."""
    url = str(request.getfixturevalue("store_url"))
    if not backends or any(url.startswith(b) for b in backends):
        request.applymarker(pytest.mark.xfail(strict=False, reason=reason))


def stored(bb: Backburner) -> int:
    """How many jobs the store holds, whatever their queue and status."""
    return sum(sum(per_status.values()) for per_status in bb.store.counts().values())


def refused_or_stored(
    bb: Backburner, names: tuple[str, ...], enqueue: Callable[[], Job]
) -> Job | None:
    """Run `enqueue`. If it raises TypeError or ValueError, check the message names one of
    `names` and that nothing was stored, and return None; else check exactly one job was
    stored, and return it. Any other exception fails the test."""
    before = stored(bb)
    try:
        job = enqueue()
    except (TypeError, ValueError) as exc:
        assert any(name in str(exc) for name in names), f"{names} not named in: {exc}"
        assert stored(bb) == before, "refused, yet something was stored"
        return None
    assert stored(bb) == before + 1
    return job


def read(bb: Backburner, job: Job) -> JobRecord:
    """The job as the store has it now."""
    record = bb.store.get(job.id)
    assert record is not None, "delay() returned, yet the job is not in the store"
    return record


def runs_to_the_end(bb: Backburner, job: Job) -> JobRecord:
    """Run every due job, then check `job` ended (succeeded or failed); return its record."""
    drain(bb)
    record = read(bb, job)
    assert record.status in ENDED, f"the job is stuck {record.status.value}"
    return record


def echoed(bb: Backburner, job: Job) -> None:
    """Check the echo job ran to success and gave back its own arguments."""
    record = runs_to_the_end(bb, job)
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.result is not None
    args, kwargs = codec.loads(record.payload)
    assert_same(codec.loads(record.result), (tuple(args), kwargs))


# -- task.delay(*args, **kwargs) -------------------------------------------------------------
argument = st.one_of(round_trippable, anything)
keyword = st.text(st.characters(exclude_categories=()), max_size=8)


@STORE_FUZZ
@given(args=st.lists(argument, max_size=3), kwargs=st.dictionaries(keyword, argument, max_size=3))
def test_delay_stores_arguments_exactly_or_refuses_them(
    bb: Backburner, args: list[Any], kwargs: dict[str, Any]
) -> None:
    echo = bb.tasks["fuzz.echo"]
    job = refused_or_stored(bb, ("argument",), lambda: echo.delay(*args, **kwargs))
    if job is None:
        return
    assert_same(codec.loads(read(bb, job).payload), [args, kwargs])
    echoed(bb, job)


# -- one check per public argument -------------------------------------------------------
def check_option(bb: Backburner, option: str, value: Any) -> None:
    """Enqueue an echo job with `task.options(option=value)`: refused naming the option, or
    stored with that value (None: the default) and then run to success."""
    echo = bb.tasks["fuzz.echo"]
    job = refused_or_stored(bb, (option,), lambda: echo.options(**{option: value}).delay(1))
    if job is None:
        return
    record = read(bb, job)
    if option == "retries":
        retries = bb.settings.retries if value is None else value
        assert record.max_attempts == retries + 1
    elif option == "queue":
        assert record.queue == (bb.settings.queue if value is None else value)
    else:
        assert_same(getattr(record, option), value)
    echoed(bb, job)


def within(low: float, value: float, high: float) -> bool:
    """low <= value <= high, give or take what storing a float as text may round off."""
    slack = max(1e-3, 1e-12 * max(abs(low), abs(high)))
    return low - slack <= value <= high + slack


def is_due_or_scheduled(bb: Backburner, job: Job, low: float, high: float) -> None:
    """Check the job is due between `low` and `high`, and not stuck: run it if it is due
    now (it must succeed), else it must be scheduled for that finite time."""
    record = read(bb, job)
    assert math.isfinite(record.run_at), f"run_at is {record.run_at}: the job can never run"
    assert within(low, record.run_at, high), (low, record.run_at, high)
    if record.status is JobStatus.SCHEDULED:  # due later; it may have fallen due since
        assert record.run_at > time.time() - 1.0, "scheduled, yet overdue"
    else:
        assert record.status is JobStatus.QUEUED and record.run_at <= time.time()
        assert runs_to_the_end(bb, job).status is JobStatus.SUCCEEDED


def check_delay(bb: Backburner, delay: Any) -> None:
    """`task.schedule(delay=...)`: refused naming delay, or due that long from now."""
    echo = bb.tasks["fuzz.echo"]
    before = time.time()
    job = refused_or_stored(bb, ("delay",), lambda: echo.schedule((1,), delay=delay))
    if job is not None:
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
        is_due_or_scheduled(bb, job, before + seconds, time.time() + seconds)


def check_at(bb: Backburner, at: Any) -> None:
    """`task.schedule(at=...)`: refused naming at, or due at that time."""
    echo = bb.tasks["fuzz.echo"]
    job = refused_or_stored(bb, ("at",), lambda: echo.schedule((1,), at=at))
    if job is not None:
        when = at.timestamp() if isinstance(at, dt.datetime) else float(at)
        is_due_or_scheduled(bb, job, when, when)


def check_retry_delay(bb: Backburner, plan: Plan, delay: Any) -> None:
    """`Retry(delay=...)`: refused naming delay, or, raised in a task run as a worker runs it
    (the delay honoured, not skipped as drain() does), the job is due again that much later."""
    try:
        Retry(delay=delay)
    except (TypeError, ValueError) as exc:
        assert "delay" in str(exc), exc
        return
    plan.retry_delay = delay
    job = bb.tasks["fuzz.retry"].delay()
    claimed = bb.store.claim_job(job.id, "fuzz", bb.settings.lease)  # not an earlier one
    assert claimed is not None
    before = time.time()
    run_claimed(bb, claimed)
    after = time.time()
    record = read(bb, job)
    assert record.attempts == 1 and (record.error or "").startswith("Retry")
    if delay is None:  # the task's backoff: at most retry_backoff after the first attempt
        is_due_or_scheduled(bb, job, before, after + record.retry_backoff)
    else:
        is_due_or_scheduled(bb, job, before + float(delay), after + float(delay))


def check_progress(bb: Backburner, plan: Plan, done: Any, total: Any, message: Any) -> None:
    """`current_job.set_progress(done, total, message)` in a task: refused naming an
    argument (and the job still succeeds, with no progress), or the job succeeds and its
    progress reads back exactly."""
    plan.progress = (done, total, message)
    plan.refusals.clear()
    record = runs_to_the_end(bb, bb.tasks["fuzz.progress"].delay())
    assert record.status is JobStatus.SUCCEEDED, record.error
    if plan.refusals:
        [exc] = plan.refusals
        assert any(name in str(exc) for name in ("done", "total", "message")), exc
        assert record.progress is None
    else:
        assert record.progress is not None
        # text no store could keep (a NUL, a lone surrogate) is stored escaped, by design
        kept = codec.storable_text(message) if isinstance(message, str) else message
        assert_same(record.progress, {"done": done, "total": total, "message": kept})


def check(bb: Backburner, plan: Plan, argument: str, value: Any) -> None:
    """Check the contract for one public `argument` given `value`."""
    if argument in ("queue", "priority", "unique_key", "retries"):
        check_option(bb, argument, value)
    elif argument == "schedule(delay=)":
        check_delay(bb, value)
    elif argument == "schedule(at=)":
        check_at(bb, value)
    elif argument == "Retry(delay=)":
        check_retry_delay(bb, plan, value)
    elif argument == "set_progress(done)":
        check_progress(bb, plan, value, None, None)
    elif argument == "set_progress(total)":
        check_progress(bb, plan, 1, value, None)
    else:
        assert argument == "set_progress(message)"
        check_progress(bb, plan, 1, 2, value)


finite = st.floats(allow_nan=False, allow_infinity=False)
within_float = st.integers(-(10**300), 10**300)
# values of the type each argument takes, in the range a user may expect to work
ORDINARY: dict[str, st.SearchStrategy[Any]] = {
    "queue": st.one_of(st.none(), clean_text),
    "priority": st.integers(-(2**31), 2**31 - 1),
    "unique_key": st.one_of(st.none(), clean_text),
    "retries": st.one_of(st.none(), st.integers(-5, 1000)),
    "schedule(delay=)": st.one_of(finite, within_float, st.timedeltas()),
    "schedule(at=)": st.one_of(
        finite, within_float, st.datetimes(), st.datetimes(timezones=st.timezones())
    ),
    "Retry(delay=)": st.one_of(st.none(), finite, within_float),
    "set_progress(done)": st.one_of(st.integers(-(2**63), 2**63 - 1), finite),
    "set_progress(total)": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), finite),
    "set_progress(message)": st.one_of(st.none(), clean_text),
}
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
# the extremes: huge ints, NaN and infinities, NUL, lone surrogates, very long text
EXTREME: dict[str, st.SearchStrategy[Any]] = {
    "queue": nasty_text,
    "priority": big_ints,
    "unique_key": nasty_text,
    "retries": big_ints,
    "schedule(delay=)": st.one_of(NON_FINITE, big_ints, odd_floats),
    "schedule(at=)": st.one_of(NON_FINITE, big_ints, odd_floats),
    "Retry(delay=)": st.one_of(NON_FINITE, big_ints, odd_floats),
    "set_progress(done)": st.one_of(big_ints, odd_floats),
    "set_progress(total)": st.one_of(big_ints, odd_floats),
    "set_progress(message)": nasty_text,
}
ARGUMENTS = list(ORDINARY)

UNLISTED = "found by fuzzing, not in issue 13: "
# (which test, which argument) -> (why it fails today, on which stores: none named = all).
# Remove an entry once its fix lands.
SERVERS = ("sqlite", "redis", "postgres")  # every store but memory
KNOWN_BUGS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    # jsonb keeps numbers as numeric: a float with an integral value (1e16) reads back as
    # an int; the value is equal, its type is not
    (kind, f"set_progress({part})"): (
        UNLISTED + "a float such as 1e16 comes back an int",
        ("postgres",),
    )
    for kind in ("ordinary", "extreme")
    for part in ("done", "total")
}


def expect_known_bug(request: pytest.FixtureRequest, kind: str, argument: str) -> None:
    """Mark this test xfail (not strict) where KNOWN_BUGS says it fails today."""
    known = KNOWN_BUGS.get((kind, argument))
    if known is not None:
        reason, backends = known
        known_bug(request, f"{argument}: {reason}", *backends)


@pytest.mark.parametrize("argument", ARGUMENTS)
@STORE_FUZZ
@given(data=st.data())
def test_ordinary_values_are_stored_exactly_or_refused(
    bb: Backburner, plan: Plan, request: pytest.FixtureRequest, argument: str, data: st.DataObject
) -> None:
    expect_known_bug(request, "ordinary", argument)
    check(bb, plan, argument, data.draw(ORDINARY[argument], label=argument))


@pytest.mark.parametrize("argument", ARGUMENTS)
@STORE_FUZZ
@given(data=st.data())
def test_extreme_values_are_stored_exactly_or_refused(
    bb: Backburner, plan: Plan, request: pytest.FixtureRequest, argument: str, data: st.DataObject
) -> None:
    expect_known_bug(request, "extreme", argument)
    check(bb, plan, argument, data.draw(EXTREME[argument], label=argument))


@pytest.mark.parametrize("argument", ARGUMENTS)
@STORE_FUZZ
@given(data=st.data())
def test_wrong_types_are_refused_naming_the_argument(
    bb: Backburner, plan: Plan, request: pytest.FixtureRequest, argument: str, data: st.DataObject
) -> None:
    expect_known_bug(request, "wrong type", argument)
    check(bb, plan, argument, data.draw(wrong_types, label=argument))


# -- what a task raises ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ordinary", "extreme"])
@STORE_FUZZ
@given(data=st.data())
def test_any_error_text_ends_the_job_failed_with_its_type(
    bb: Backburner, plan: Plan, request: pytest.FixtureRequest, kind: str, data: st.DataObject
) -> None:
    expect_known_bug(request, kind, "error text")
    plan.error_text = data.draw(clean_text if kind == "ordinary" else nasty_text, label="text")
    record = runs_to_the_end(bb, bb.tasks["fuzz.fail"].delay())
    assert record.status is JobStatus.FAILED
    assert (record.error or "").startswith("ValueError: ")
