"""Declaring concurrency and rate limits on tasks, and pausing queues from code and CLI."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from backburner import Backburner
from backburner.cli import main
from backburner.testing import drain
from backburner.throttle import Rate, parse_rate


@pytest.fixture
def bb(tmp_path: Path) -> Iterator[Backburner]:
    app = Backburner(f"sqlite:///{tmp_path}/jobs.db")
    yield app
    app.close()


@pytest.mark.parametrize(
    ("text", "rate"),
    [("100/m", Rate(100, 60.0)), ("20/s", Rate(20, 1.0)), (" 3 / h ", Rate(3, 3600.0))],
)
def test_rates_read_as_starts_per_second_minute_or_hour(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["100", "0/s", "5/d", "1.5/s", "-1/m", "ten/s", 10, ""])
def test_a_malformed_rate_is_refused_saying_what_fits(bb: Backburner, text: object) -> None:
    with pytest.raises(ValueError, match=r"rate must be a str like '100/m'"):
        bb.task(name="t", rate=cast(str, text))(lambda: None)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_concurrency_must_be_a_positive_int(bb: Backburner, n: object) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        bb.task(name="t", concurrency=cast(int, n))(lambda: None)


def test_a_key_without_its_limit_is_refused(bb: Backburner) -> None:
    with pytest.raises(ValueError, match="concurrency_key only makes sense with concurrency"):
        bb.task(name="t", concurrency_key=lambda: "k")(lambda: None)
    with pytest.raises(ValueError, match="rate_key only makes sense with rate"):
        bb.task(name="u", rate_key=lambda: "k")(lambda: None)


def test_limits_and_keys_are_stored_with_each_job(bb: Backburner) -> None:
    @bb.task(
        name="sync",
        concurrency=1,
        concurrency_key=lambda account, **kw: f"account:{account}",
        rate="100/m",
        rate_key=lambda account, **kw: f"api:{kw.get('region', 'eu')}",
    )
    def sync(account: int, region: str = "eu") -> None: ...

    record = sync.delay(42, region="us").record
    assert (record.concurrency, record.concurrency_key) == (1, "account:42")
    assert (record.rate_limit, record.rate_period, record.rate_key) == (100, 60.0, "api:us")


def test_without_a_key_function_the_key_is_the_task_name(bb: Backburner) -> None:
    @bb.task(name="report", concurrency=2, rate="5/s")
    def report() -> None: ...

    record = report.delay().record
    assert (record.concurrency_key, record.rate_key) == ("report", "report")
    plain = bb.task(name="plain")(lambda: None).delay().record
    assert (plain.concurrency, plain.concurrency_key, plain.rate_limit) == (None, None, None)


def test_options_change_the_limits_per_call(bb: Backburner) -> None:
    @bb.task(name="mail", concurrency=5)
    def mail() -> None: ...

    record = mail.options(concurrency=1, rate="1/s").delay().record
    assert (record.concurrency, record.rate_limit) == (1, 1)


def test_a_key_function_returning_no_str_enqueues_nothing(bb: Backburner) -> None:
    @bb.task(name="t", concurrency=1, concurrency_key=lambda n: n)
    def t(n: int) -> None: ...

    with pytest.raises(TypeError, match="concurrency_key must return a str, got 7"):
        t.delay(7)
    assert bb.store.list_jobs() == []


def test_drain_leaves_jobs_over_a_rate_limit_queued(bb: Backburner) -> None:
    ran: list[int] = []

    @bb.task(name="t", rate="2/h")
    def t(n: int) -> None:
        ran.append(n)

    jobs = [t.delay(n) for n in range(3)]
    assert drain(bb) == 2
    assert ran == [0, 1]
    assert jobs[2].refresh().status == "queued"
    assert jobs[2].attempts == 0


def test_a_paused_queue_takes_jobs_and_runs_them_once_resumed(bb: Backburner) -> None:
    @bb.task(name="t", queue="mail")
    def t() -> int:
        return 1

    bb.pause("mail")
    assert bb.paused() == {"mail"}
    job = t.delay()
    assert drain(bb) == 0
    bb.resume("mail")
    assert bb.paused() == set()
    assert drain(bb) == 1
    assert job.refresh().result == 1


def test_pause_refuses_a_queue_name_no_store_can_hold(bb: Backburner) -> None:
    with pytest.raises(ValueError, match="queue"):
        bb.pause("")


def test_the_cli_pauses_and_resumes_a_queue(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "flowapp", types.SimpleNamespace(bb=bb))
    runner = CliRunner()
    out = runner.invoke(main, ["pause", "flowapp:bb", "mail"], catch_exceptions=False)
    assert out.exit_code == 0 and "paused" in out.output
    assert bb.paused() == {"mail"}
    status = runner.invoke(main, ["status", "flowapp:bb"], catch_exceptions=False).output
    assert "paused queues (workers claim none of their jobs): mail" in status
    out = runner.invoke(main, ["resume", "flowapp:bb", "mail"], catch_exceptions=False)
    assert out.exit_code == 0 and "resumed" in out.output
    assert bb.paused() == set()


def test_bulk_chained_grouped_and_periodic_jobs_carry_their_limits_and_keys(
    bb: Backburner,
) -> None:
    @bb.task(name="sync", concurrency=1, concurrency_key=lambda user: f"user:{user}", rate="5/m")
    def sync(user: int) -> int:
        return user

    @bb.task(name="merge", concurrency=1, concurrency_key=lambda *args: f"merge:{args[-1]}")
    def merge(results: list[int], user: int) -> int:
        return sum(results) + user

    mapped = sync.map([(1,), (2,)])
    chained = bb.chain(sync.s(3), sync.s(4))
    # a group's then: its keys come from the arguments given to .s(), the results unknown
    grouped = bb.group([sync.s(5)], then=merge.s(6))  # type: ignore[call-arg, arg-type]
    bb.periodic(every=60, name="sync-9", args=(9,))(sync)
    ticked = bb.schedules["sync-9"].job_record(1000.0, 1000.0)
    jobs = [*mapped, *chained, *grouped.jobs]
    keys = [bb.store.get(j.id).concurrency_key for j in jobs]  # type: ignore[union-attr]
    assert keys == ["user:1", "user:2", "user:3", "user:4", "user:5"]
    then = bb.store.get(grouped.then.id)  # type: ignore[union-attr]
    assert then is not None and (then.concurrency_key, then.rate_limit) == ("merge:6", None)
    assert (ticked.concurrency_key, ticked.rate_key, ticked.rate_period) == (
        "user:9",
        "sync",
        60.0,
    )
