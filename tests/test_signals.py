"""Lifecycle signals: who gets what, when, and a receiver that raises breaks nothing."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backburner import Backburner, Job, JobStatus, Retry, signals
from backburner.testing import drain

from .helpers import wait_until, worker_processes


@pytest.fixture
def bb() -> Backburner:
    bb = Backburner("memory://", retry_backoff=0)

    @bb.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    @bb.task(name="boom", retries=1)
    def boom() -> None:
        raise ValueError("bad input")

    @bb.task(name="again", retries=2)
    def again() -> str:
        from backburner import current_job

        if current_job.attempt == 1:
            raise Retry(delay=0)
        return "done"

    return bb


@pytest.fixture
def heard() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every job signal received, in order, as (signal name, data)."""
    events: list[tuple[str, dict[str, Any]]] = []
    receivers = []
    for name in (
        "job_enqueued",
        "job_started",
        "job_succeeded",
        "job_retrying",
        "job_failed",
        "job_cancelled",
    ):

        def receiver(sender: Backburner, _name: str = name, **data: Any) -> None:
            events.append((_name, data))

        getattr(signals, name).connect(receiver)
        receivers.append((name, receiver))
    yield events
    for name, receiver in receivers:
        getattr(signals, name).disconnect(receiver)


def test_a_job_that_succeeds_is_enqueued_started_and_succeeded(bb: Backburner, heard: Any) -> None:
    job = bb.tasks["add"].delay(2, 3)
    drain(bb)
    assert [name for name, _ in heard] == ["job_enqueued", "job_started", "job_succeeded"]
    enqueued, started, succeeded = (data for _, data in heard)
    assert enqueued["job"].id == job.id and enqueued["job"].status is JobStatus.QUEUED
    assert started["job"].id == job.id and started["job"].attempts == 1
    assert succeeded["result"] == 5 and succeeded["duration"] >= 0


def test_each_failed_attempt_retries_and_only_the_last_one_fails(
    bb: Backburner, heard: Any
) -> None:
    job = bb.tasks["boom"].delay()
    drain(bb)
    endings = [(name, data) for name, data in heard if name in ("job_retrying", "job_failed")]
    assert [name for name, _ in endings] == ["job_retrying", "job_failed"]
    retrying, failed = (data for _, data in endings)
    assert retrying["job"].id == job.id and retrying["run_at"] is not None
    assert isinstance(failed["exception"], ValueError)
    assert failed["error"].startswith("ValueError: bad input")
    assert job.refresh().status is JobStatus.FAILED


def test_report_every_final_failure_as_an_error_tracker_would(bb: Backburner) -> None:
    reported: list[tuple[str, BaseException | None]] = []

    @signals.job_failed.connect_via(bb)
    def report(sender: Backburner, job: Job, exception: BaseException | None, **_: Any) -> None:
        reported.append((job.task, exception))  # sentry_sdk.capture_exception(exception)

    try:
        bb.tasks["boom"].delay()
        bb.tasks["again"].delay()  # retried once, then succeeds: nothing to report
        drain(bb)
    finally:
        signals.job_failed.disconnect(report)
    assert [(task, type(exc)) for task, exc in reported] == [("boom", ValueError)]


def test_a_receiver_that_raises_is_logged_and_breaks_nothing(
    bb: Backburner, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Backburner, **data: Any) -> None:
        raise RuntimeError("receiver bug")

    heard: list[str] = []

    def fine(sender: Backburner, job: Job, **data: Any) -> None:
        heard.append(job.id)

    for sig in (signals.job_enqueued, signals.job_started, signals.job_succeeded):
        sig.connect(broken)
    signals.job_succeeded.connect(fine)
    try:
        with caplog.at_level(logging.ERROR, logger="backburner.signals"):
            job = bb.tasks["add"].delay(1, 1)
            drain(bb)
    finally:
        for sig in (signals.job_enqueued, signals.job_started, signals.job_succeeded):
            sig.disconnect(broken)
        signals.job_succeeded.disconnect(fine)
    assert job.refresh().status is JobStatus.SUCCEEDED and job.result == 2
    assert heard == [job.id]  # the other receiver still ran
    logged = [r for r in caplog.records if r.name == "backburner.signals"]
    assert len(logged) == 3 and all("receiver bug" in str(r.exc_info) for r in logged)


def test_cancelling_a_queued_job_sends_job_cancelled(bb: Backburner, heard: Any) -> None:
    job = bb.tasks["add"].delay(1, 2)
    assert job.cancel()
    assert [name for name, _ in heard] == ["job_enqueued", "job_cancelled"]
    assert heard[1][1]["job"].status is JobStatus.CANCELLED
    assert not job.cancel()
    assert len(heard) == 2


def test_a_receiver_for_one_backburner_does_not_hear_another(bb: Backburner) -> None:
    other = Backburner("memory://")
    other.task(name="add")(lambda x, y: x + y)
    heard: list[str] = []

    def mine(sender: Backburner, job: Job, **_: Any) -> None:
        heard.append(job.id)

    signals.job_enqueued.connect(mine, sender=bb)
    try:
        ours = bb.tasks["add"].delay(1, 1)
        other.tasks["add"].delay(1, 1)
    finally:
        signals.job_enqueued.disconnect(mine, sender=bb)
    assert heard == [ours.id]


def test_a_deduplicated_delay_enqueues_nothing_and_says_nothing(bb: Backburner, heard: Any) -> None:
    first = bb.tasks["add"].options(unique_key="k").delay(1, 1)
    second = bb.tasks["add"].options(unique_key="k").delay(1, 1)
    assert second.id == first.id
    assert [name for name, _ in heard] == ["job_enqueued"]


@pytest.mark.slow
def test_a_real_worker_sends_worker_and_failure_signals_from_its_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from . import workerapp

    log = tmp_path / "signals.log"
    log.touch()
    monkeypatch.setenv("BB_SIGNAL_LOG", str(log))
    url = f"sqlite:///{tmp_path}/jobs.db"
    bb = workerapp.build(url)
    flaky = bb.tasks["flaky"].delay(5)  # fails all 4 attempts in the job's own thread
    dies = bb.tasks["suicide"].delay()  # kills its process: the supervisor ends the attempt
    with worker_processes(tmp_path) as start:
        worker = start(url, "-p", "1", app="signalapp:bb")

        def both_failed() -> bool:
            return all(j.refresh().status is JobStatus.FAILED for j in (flaky, dies))

        wait_until(both_failed, timeout=60)
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    lines = log.read_text().splitlines()
    assert lines[0].startswith("worker_started") and lines[-1].startswith("worker_stopping")
    assert [line.split()[0] for line in lines if flaky.id in line] == ["retrying"] * 3 + ["failed"]
    assert f"failed {flaky.id} ConnectionError ConnectionError: attempt 4 failed" in lines
    died = [line for line in lines if dies.id in line]
    assert [line.split()[0] for line in died] == ["retrying", "retrying", "failed"]
    assert all(" NoneType WorkerDied:" in line for line in died)
    assert lines[-1] == "worker_stopping signal SIGTERM"
