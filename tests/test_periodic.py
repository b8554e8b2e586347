"""Periodic jobs (`bb.periodic`) driven by a fake clock: declaring schedules, cron in time
zones across DST, misfire policies, overlap, deploys that change schedules."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backburner import Backburner, Job, JobStatus, current_job, signals
from backburner.cli import main
from backburner.errors import StoreUnavailable
from backburner.testing import FakeClock, drain, run_schedules
from backburner.worker import scheduler as scheduling
from backburner.worker.scheduler import MAX_CATCHUP, Scheduler

from .helpers import wait_until

UTC = dt.timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def bb() -> Iterator[Backburner]:
    app = Backburner("memory://")
    yield app
    app.close()


def noop() -> None:
    return None


def ticks(jobs: list[Job], schedule: str, tz: dt.tzinfo = UTC) -> list[str]:
    """The ticks of `schedule`'s jobs as local ISO times, in order."""
    return [
        dt.datetime.fromtimestamp(j.record.run_at, tz).isoformat(timespec="seconds")
        for j in jobs
        if j.record.schedule == schedule
    ]


# -- declaring ---------------------------------------------------------------------------
def test_periodic_registers_the_function_as_a_task_and_its_schedule(bb: Backburner) -> None:
    @bb.periodic("*/15 * * * *", tz="Europe/Paris", queue="low", retries=1)
    def refresh() -> str:
        return "done"

    name = refresh.name
    assert bb.tasks[name] is refresh and refresh.queue == "low" and refresh.retries == 1
    schedule = bb.schedules[name]
    assert schedule.task is refresh and schedule.tz == "Europe/Paris"
    assert schedule.misfire == "latest" and schedule.catchup == 3600 and schedule.overlap
    assert refresh() == "done", "still callable as the plain function"


def test_a_task_may_have_several_schedules_by_name(bb: Backburner) -> None:
    @bb.task(name="report")
    def report(kind: str) -> str:
        return kind

    bb.periodic("0 9 * * 1-5", name="weekday", kwargs={"kind": "daily"})(report)
    bb.periodic(every=dt.timedelta(hours=1), name="hourly", args=("hourly",), queue="low")(report)
    assert set(bb.schedules) == {"weekday", "hourly"}
    assert bb.schedules["hourly"].every == 3600
    clock = FakeClock(dt.datetime(2026, 6, 1, 8, 30, tzinfo=UTC))  # a Monday
    jobs = run_schedules(bb, clock, until=dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    assert [(j.record.schedule, j.queue, j.record.payload) for j in jobs] == [
        ("weekday", "default", '[[],{"kind":"daily"}]'),
        ("hourly", "low", '[["hourly"],{}]'),
        ("hourly", "low", '[["hourly"],{}]'),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("61 * * * *",), {}, "bad cron expression"),
        (("* * *",), {}, "5 fields"),
        (("0 0 30 2 *",), {}, "day-of-month"),
        (("0 9 * * *",), {"tz": "Mars/Olympus"}, "unknown time zone"),
        ((), {"every": 0}, "every must be"),
        ((), {"every": 0.01}, "at least"),
        ((), {"every": 5, "tz": "Europe/Paris"}, "tz applies to cron"),
        ((), {}, "exactly one"),
        (("* * * * *",), {"every": 5}, "exactly one"),
        (("* * * * *",), {"misfire": "sometimes"}, "misfire must be one of"),
        (("* * * * *",), {"catchup": -1}, "catchup must be"),
    ],
)
def test_bad_schedules_are_refused_when_declared(
    bb: Backburner, args: tuple[str, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bb.periodic(*args, **kwargs)(noop)  # type: ignore[arg-type]
    assert bb.schedules == {} and bb.tasks == {}, "nothing half-registered"


def test_a_duplicate_schedule_name_is_refused(bb: Backburner) -> None:
    task = bb.periodic(every=60)(noop)
    with pytest.raises(ValueError, match=r"already exists.*name="):
        bb.periodic(every=30)(task)
    bb.periodic(every=30, name="fast")(task)
    with pytest.raises(ValueError, match="'fast' already exists"):
        bb.periodic("* * * * *", name="fast")(task)


def test_arguments_and_options_are_checked_when_declared(bb: Backburner) -> None:
    @bb.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(TypeError, match=r"add\.delay"):
        bb.periodic(every=60, args=(1,))(add)
    with pytest.raises(TypeError, match="set"):
        bb.periodic(every=60, args=(1, {2}))(add)
    with pytest.raises(TypeError, match="unknown"):
        bb.periodic(every=60, colour="red")(add)
    assert bb.schedules == {}


def test_next_run_reads_cron_in_its_time_zone(bb: Backburner) -> None:
    task = bb.task(noop)
    bb.periodic("0 9 * * mon", tz="Europe/Paris", name="monday")(task)
    bb.periodic("@daily", name="daily")(task)
    bb.periodic("30 */20 * * * *", name="seconds")(task)
    bb.periodic(every=90, name="every")(task)
    after = dt.datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)  # a Thursday
    assert bb.schedules["monday"].next_run(after) == dt.datetime(2026, 1, 5, 9, tzinfo=PARIS)
    assert bb.schedules["monday"].next_run(after).tzinfo == PARIS
    assert bb.schedules["daily"].next_run(after) == dt.datetime(2026, 1, 2, tzinfo=UTC)
    assert bb.schedules["seconds"].next_run(after) == dt.datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert bb.schedules["every"].next_run(after.timestamp()).timestamp() % 90 == 0
    assert bb.schedules["every"].next_run() > dt.datetime.now(UTC)


# -- time zones and DST, as Debian's cron ------------------------------------------------
def test_days_of_ticks_across_dst_in_paris_and_new_york_as_debian_cron(bb: Backburner) -> None:
    task = bb.task(noop)
    bb.periodic("30 2 * * *", tz="Europe/Paris", name="paris")(task)
    bb.periodic("15 30 1 * * *", tz="America/New_York", name="ny")(task)
    bb.periodic("0 * * * *", tz="America/New_York", name="ny-hourly")(task)
    clock = FakeClock(dt.datetime(2026, 3, 27, tzinfo=UTC))
    started = time.perf_counter()
    spring = run_schedules(bb, clock, until=dt.datetime(2026, 3, 31, tzinfo=UTC))
    # Paris skips 02:00-03:00 on March 29: the 02:30 job runs once, at the jump
    assert ticks(spring, "paris", PARIS) == [
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    clock.set(dt.datetime(2026, 10, 23, tzinfo=UTC))
    autumn = run_schedules(bb, clock, until=dt.datetime(2026, 11, 3, tzinfo=UTC))
    paris = ticks(autumn, "paris", PARIS)
    # Paris repeats 02:00-03:00 on October 25: the job runs once, at the first 02:30
    assert "2026-10-25T02:30:00+02:00" in paris and "2026-10-25T02:30:00+01:00" not in paris
    assert len(paris) == 11, "one per day, October 23 to November 2"
    # New York repeats 01:00-02:00 on November 1: a fixed time (6 fields too) runs once...
    ny = ticks(autumn, "ny", NEW_YORK)
    assert "2026-11-01T01:30:15-04:00" in ny and "2026-11-01T01:30:15-05:00" not in ny
    assert len(ny) == len(set(t[:10] for t in ny)) == 11
    # ...and an hourly job follows real time, as Debian's cron does: 25 runs that day
    hourly = ticks(autumn, "ny-hourly", NEW_YORK)
    assert sum(t.startswith("2026-11-01") for t in hourly) == 25
    assert len(spring) + len(autumn) > 300
    assert time.perf_counter() - started < 30, "days of ticks in well under a second"


def test_new_york_spring_forward_runs_the_skipped_time_once_at_the_jump(bb: Backburner) -> None:
    task = bb.task(noop)
    bb.periodic("30 2 * * *", tz="America/New_York", name="ny")(task)
    bb.periodic("0 30 2 * * *", tz="America/New_York", name="ny6")(task)
    clock = FakeClock(dt.datetime(2026, 3, 7, tzinfo=UTC))
    jobs = run_schedules(bb, clock, until=dt.datetime(2026, 3, 10, tzinfo=UTC))
    expected = [
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]
    assert ticks(jobs, "ny", NEW_YORK) == ticks(jobs, "ny6", NEW_YORK) == expected


# -- jobs of a tick --------------------------------------------------------------------------
def test_a_periodic_job_is_due_at_its_tick_and_knows_it(bb: Backburner) -> None:
    @bb.periodic(every=60, name="minutely")
    def when() -> str | None:
        tick = current_job.scheduled_for
        return None if tick is None else tick.isoformat()

    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
    clock = FakeClock(start)
    jobs = run_schedules(bb, clock, until=start + dt.timedelta(minutes=3))
    assert len(jobs) == 3
    drain(bb)
    first = jobs[0].refresh()
    tick = dt.datetime.fromtimestamp(first.record.run_at, UTC)
    assert first.result == tick.isoformat() and tick.second == 0
    assert first.record.to_dict()["schedule"] == "minutely"
    assert first.record.to_dict()["scheduled_for"] == first.record.run_at
    plain = when.delay()
    drain(bb)
    assert plain.refresh().result is None and plain.record.schedule is None


def test_a_failing_periodic_job_retries_and_the_next_tick_is_independent(bb: Backburner) -> None:
    @bb.periodic(every=60, retries=1, retry_backoff=0)
    def broken() -> None:
        raise RuntimeError("nope")

    start = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    clock = FakeClock(start)
    jobs = run_schedules(bb, clock, until=start + dt.timedelta(minutes=2))
    drain(bb)
    assert [j.refresh().status for j in jobs] == [JobStatus.FAILED] * 2
    assert [j.attempts for j in jobs] == [2, 2]


# -- misfires ----------------------------------------------------------------------------
def _downtime(bb: Backburner, misfire: str, down: dt.timedelta, **options: Any) -> list[str]:
    """A 10-minute schedule ticks for an hour, no worker runs for `down`, then one does:
    the ticks stored after the downtime, as times of day."""
    decorate = bb.periodic("*/10 * * * *", misfire=misfire, name="s", **options)
    decorate(bb.task(noop))
    clock = FakeClock(dt.datetime(2026, 5, 1, 10, 0, 1, tzinfo=UTC))
    run_schedules(bb, clock, until=dt.datetime(2026, 5, 1, 11, 0, 1, tzinfo=UTC))
    clock.advance(down.total_seconds())
    after = run_schedules(bb, clock, until=clock.time() + 1200)
    return [t[11:16] for t in ticks(after, "s")]


def test_misfire_latest_runs_the_latest_missed_tick_once(bb: Backburner) -> None:
    # down from 11:00:01 to 11:45:01: 11:10 ... 11:40 missed, 11:40 runs, then 11:50, 12:00
    assert _downtime(bb, "latest", dt.timedelta(minutes=45)) == ["11:40", "11:50", "12:00"]


def test_misfire_skip_runs_nothing_missed(bb: Backburner) -> None:
    assert _downtime(bb, "skip", dt.timedelta(minutes=45)) == ["11:50", "12:00"]


def test_misfire_all_runs_every_missed_tick_oldest_first(bb: Backburner) -> None:
    expected = ["11:10", "11:20", "11:30", "11:40", "11:50", "12:00"]
    assert _downtime(bb, "all", dt.timedelta(minutes=45)) == expected


def test_missed_ticks_older_than_catchup_never_run(bb: Backburner) -> None:
    got = _downtime(bb, "all", dt.timedelta(minutes=45), catchup=dt.timedelta(minutes=20))
    assert got == ["11:30", "11:40", "11:50", "12:00"]


def test_latest_outside_catchup_runs_nothing_missed_and_counts_misfires(bb: Backburner) -> None:
    bb.periodic("*/10 * * * *", name="s", catchup=60)(bb.task(noop))
    clock = FakeClock(dt.datetime(2026, 5, 1, 10, 0, 1, tzinfo=UTC))
    run_schedules(bb, clock, until=dt.datetime(2026, 5, 1, 11, 0, 1, tzinfo=UTC))
    clock.advance(hours=5, minutes=5)  # missed: 11:10 ... 16:00, 30 ticks
    scheduler = Scheduler(bb, clock=clock)
    assert scheduler.run_due().jobs == []
    assert scheduler.misfires["s"] == 30
    last = bb.store.last_ticks(["s"])["s"]
    assert not last.enqueued and last.missed == 30
    assert last.at == dt.datetime(2026, 5, 1, 16, 0, tzinfo=UTC).timestamp()


def test_misfire_all_is_bounded_to_the_newest_ticks(bb: Backburner) -> None:
    bb.periodic(every=1, misfire="all", name="s")(bb.task(noop))
    clock = FakeClock(dt.datetime(2026, 5, 1, tzinfo=UTC))
    run_schedules(bb, clock, until=clock.time() + 2.5)
    clock.advance(1000)
    scheduler = Scheduler(bb, clock=clock)
    jobs = scheduler.run_due().jobs
    assert len(jobs) == MAX_CATCHUP
    assert [j.run_at for j in jobs] == sorted(j.run_at for j in jobs), "oldest first"
    assert jobs[-1].run_at == int(clock.time())
    assert scheduler.misfires["s"] == 1000 - MAX_CATCHUP


# -- overlap -----------------------------------------------------------------------------
def test_overlap_false_skips_a_tick_while_the_previous_job_is_pending(bb: Backburner) -> None:
    bb.periodic(every=60, overlap=False, name="s")(bb.task(noop))
    clock = FakeClock(dt.datetime.now(UTC) - dt.timedelta(hours=1))
    scheduler = Scheduler(bb, clock=clock)
    clock.advance(60)
    [first] = scheduler.run_due().jobs
    clock.advance(60)
    assert scheduler.run_due().jobs == [], "the first job is still queued"
    assert scheduler.misfires["s"] == 1
    skipped = bb.store.last_ticks(["s"])["s"]
    assert not skipped.enqueued and skipped.job_id == first.id
    drain(bb)
    clock.advance(60)
    assert len(scheduler.run_due().jobs) == 1


def test_overlap_true_enqueues_every_tick(bb: Backburner) -> None:
    bb.periodic(every=60, name="s")(bb.task(noop))
    clock = FakeClock(dt.datetime.now(UTC) - dt.timedelta(hours=1))
    assert len(run_schedules(bb, clock, until=clock.time() + 300)) == 5


# -- many schedulers, deploys ----------------------------------------------------------------
def test_racing_schedulers_store_each_tick_once(bb: Backburner) -> None:
    bb.periodic(every=10, name="s")(bb.task(noop))
    clock = FakeClock(dt.datetime(2026, 5, 1, tzinfo=UTC))
    schedulers = [Scheduler(bb, clock=clock) for _ in range(3)]
    made = []
    for _ in range(20):
        clock.advance(10)
        for s in schedulers:
            made += s.run_due().jobs
    assert len(made) == 20 == len({r.run_at for r in made})
    assert sum(s.stored["s"] for s in schedulers) == 20


def _tick_seen_first_by_a_newcomer(bb: Backburner, **options: Any) -> Scheduler:
    """A scheduler runs from before a tick; another starts 2 ms after the tick and looks
    before the first one does (1 ms later). Returns the first scheduler."""
    bb.periodic(every=60, name="s", **options)(bb.task(noop))
    clock = FakeClock(dt.datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC))
    running = Scheduler(bb, clock=clock)
    clock.advance(30.001)
    assert len(running.run_due().jobs) == 1, "the tick before, stored on time"
    clock.advance(60.001)
    Scheduler(bb, clock=clock).run_due()
    clock.advance(0.001)
    running.run_due()
    return running


@pytest.mark.parametrize("options", [{"misfire": "skip"}, {"misfire": "latest", "catchup": 0}])
def test_a_tick_seen_first_by_a_starting_scheduler_still_runs_once(
    bb: Backburner, options: dict[str, Any]
) -> None:
    running = _tick_seen_first_by_a_newcomer(bb, **options)
    last = bb.store.last_ticks(["s"])["s"]
    assert last.enqueued and last.missed == 0, "a scheduler ran all along: the tick is on time"
    assert running.stored["s"] == 2 and len(bb.store.list_jobs()) == 2


def test_a_tick_nobody_stored_on_time_is_skipped_by_a_starting_scheduler(bb: Backburner) -> None:
    bb.periodic(every=60, misfire="skip", name="s")(bb.task(noop))
    clock = FakeClock(dt.datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC))
    run_schedules(bb, clock, until=clock.time() + 30.001)  # the tick at 10:01 is stored
    clock.advance(60.002)  # the last scheduler stopped; a new one starts 2 ms after 10:02
    newcomer = Scheduler(bb, clock=clock)
    assert newcomer.run_due().jobs == [] and newcomer.misfires["s"] == 0, "may still be on time"
    clock.advance(scheduling.GRACE)  # nobody stored it on time: it was missed
    assert newcomer.run_due().jobs == [] and newcomer.misfires["s"] == 1
    last = bb.store.last_ticks(["s"])["s"]
    assert not last.enqueued and last.missed == 1
    assert last.at == dt.datetime(2026, 5, 1, 10, 2, tzinfo=UTC).timestamp()


def test_a_tick_job_deduplicated_by_unique_key_is_not_announced(bb: Backburner) -> None:
    task = bb.task(noop)
    live = task.options(unique_key="one").delay()
    bb.periodic(every=60, name="s", unique_key="one")(task)
    announced: list[str] = []
    clock = FakeClock(dt.datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC))
    scheduler = Scheduler(bb, clock=clock)
    with signals.job_enqueued.connected_to(lambda _bb, job, **_: announced.append(job.id)):
        clock.advance(30.001)
        assert scheduler.run_due().jobs == [], "the live job holds the key"
    assert announced == [] and scheduler.stored["s"] == 0
    assert bb.store.last_ticks(["s"])["s"].job_id == live.id


def _app(url: str, **schedules: float) -> Backburner:
    app = Backburner(url)
    task = app.task(name="job")(noop)
    for name, every in schedules.items():
        app.periodic(every=every, name=name)(task)
    return app


def test_a_deploy_changing_a_schedule_hands_over_without_loss_or_double(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    old, new = _app(url, s=60), _app(url, s=90)  # the deploy: every 60 s becomes every 90 s
    start = dt.datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    clock = FakeClock(start)
    old_scheduler = Scheduler(old, clock=clock)
    times = []
    for _ in range(20):  # the old workers alone, looking every 30 s
        clock.advance(30)
        times += [r.run_at for r in old_scheduler.run_due().jobs]
    new_scheduler = Scheduler(new, clock=clock)  # a newer worker starts; the old keeps running
    for _ in range(60):
        clock.advance(30)
        for scheduler in (old_scheduler, new_scheduler):
            times += [r.run_at for r in scheduler.run_due().jobs]
    # the old definition until the new one's first tick (630 s), then only the new one:
    # no tick doubled, none of the old definition after the hand-over, none lost
    offsets = [int(t - start) for t in times]
    assert offsets == [*range(60, 601, 60), *range(630, 2401, 90)]
    assert new_scheduler.stored["s"] == len(range(630, 2401, 90))
    old.close()
    new.close()


def test_a_schedule_removed_from_code_is_no_longer_ticked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    first, second = _app(url, kept=60, removed=60), _app(url, kept=60)
    clock = FakeClock(dt.datetime(2026, 5, 1, tzinfo=UTC))
    made = run_schedules(first, clock, until=clock.time() + 300)
    assert {j.record.schedule for j in made} == {"kept", "removed"}
    made = run_schedules(second, clock, until=clock.time() + 300)
    assert {j.record.schedule for j in made} == {"kept"} and len(made) == 5
    first.close()
    second.close()


def test_tick_history_is_pruned_but_each_schedules_latest_kept(bb: Backburner) -> None:
    task = bb.task(noop)
    bb.periodic(every=60, name="fast")(task)
    bb.periodic("0 0 1 1 *", name="yearly")(task)
    clock = FakeClock(dt.datetime(2025, 12, 31, 23, 0, tzinfo=UTC))
    run_schedules(bb, clock, until=clock.time() + 7200)
    # 120 minutely ticks, 23:01 to 01:00: 89 before 00:30, then all but the latest
    assert bb.store.prune_ticks(clock.time() - 1800) == 89
    assert bb.store.prune_ticks(clock.time() + 10**6) == 30
    assert set(bb.store.last_ticks(["fast", "yearly", "other"])) == {"fast", "yearly"}


# -- operators -----------------------------------------------------------------------------
def test_backburner_periodic_lists_schedules_with_their_last_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(f"sqlite:///{tmp_path}/jobs.db", quick=60)
    app.periodic("0 0 1 1 *", name="idle")(app.tasks["job"])
    monkeypatch.setitem(sys.modules, "periodicapp_cli", types.SimpleNamespace(bb=app))
    clock = FakeClock(dt.datetime.now(UTC) - dt.timedelta(minutes=30))
    run_schedules(app, clock, clock.time() + 120)
    runner = CliRunner()
    out = runner.invoke(main, ["periodic", "periodicapp_cli:bb", "--json"]).output
    rows = {row["name"]: row for row in json.loads(out)}
    quick = rows["quick"]
    assert quick["task"] == "job" and quick["expression"] == "every 60s" and quick["tz"] == "UTC"
    assert quick["last_job_status"] == "queued" and quick["last_tick"] % 60 == 0
    job = app.get_job(quick["last_job_id"])
    assert job is not None and job.record.scheduled_for == quick["last_tick"]
    assert rows["idle"]["last_tick"] is None and rows["idle"]["next_run"] > time.time()
    text = runner.invoke(main, ["periodic", "periodicapp_cli:bb"]).output
    assert "SCHEDULE" in text and quick["last_job_id"] in text and "queued" in text
    shown = runner.invoke(main, ["show", "periodicapp_cli:bb", job.id]).output
    assert "schedule  quick (tick" in shown
    app.close()


# -- the scheduler thread of a worker ------------------------------------------------------
def test_the_worker_scheduler_thread_wakes_for_each_tick_and_stops(bb: Backburner) -> None:
    bb.periodic(every=0.1, name="fast")(bb.task(noop))
    thread = scheduling.SchedulerThread()
    thread.follow(bb, started=time.time())
    try:
        wait_until(lambda: len(bb.store.list_jobs()) >= 3, timeout=10)
    finally:
        thread.stop()
    made = sorted(r.scheduled_for or 0 for r in bb.store.list_jobs())
    assert all(round(b - a, 6) == 0.1 for a, b in itertools.pairwise(made)), "no tick skipped"


def test_a_store_outage_does_not_end_the_scheduler(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    bb.periodic(every=0.1, name="fast")(bb.task(noop))
    calls = []
    real = bb.store.last_ticks

    def flaky(names: list[str]) -> object:
        calls.append(1)
        if len(calls) <= 2:
            raise StoreUnavailable("the store is down")
        return real(names)

    monkeypatch.setattr(bb.store, "last_ticks", flaky)
    monkeypatch.setattr(scheduling, "RETRY_AFTER", 0.05)
    thread = scheduling.SchedulerThread()
    thread.follow(bb, started=time.time())
    try:
        wait_until(lambda: len(bb.store.list_jobs()) >= 2, timeout=10)
    finally:
        thread.stop()
    assert len(calls) > 2
