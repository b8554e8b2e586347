"""Eager mode: each job is stored and run at delay(), exactly as a worker would leave it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backburner import Backburner, JobFailed, JobStatus, Retry, current_job, signals
from backburner.testing import drain, eager


@pytest.fixture(params=["memory", "sqlite"])
def bb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backburner]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/jobs.db"
    app = Backburner(url)
    yield app
    app.close()


def flaky_task(bb: Backburner) -> Any:
    @bb.task(name="flaky", retries=2, expose_result=True)
    def flaky(fail_until: int) -> str:
        current_job.set_progress(current_job.attempt, 3, f"attempt {current_job.attempt}")
        if current_job.attempt <= fail_until:
            raise ValueError(f"attempt {current_job.attempt} failed")
        return f"done at {current_job.attempt}"

    return flaky


def test_an_eager_job_is_stored_as_a_worker_would_leave_it(bb: Backburner) -> None:
    flaky = flaky_task(bb)
    with eager(bb):
        job = flaky.delay(1)
    stored = bb.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.SUCCEEDED
    assert (stored.result, stored.attempts) == ("done at 2", 2)
    assert [f.attempt for f in stored.record.failures] == [1]
    assert stored.progress == {"done": 2, "total": 3, "message": "attempt 2"}
    assert (job.status, job.result) == (stored.status, stored.result)

    drained = flaky.delay(1)  # the same job run by drain(): the same record, field by field
    drain(bb)
    other = drained.refresh().record
    fields = ("status", "attempts", "result", "progress", "error", "max_attempts")
    assert [getattr(other, f) for f in fields] == [getattr(stored.record, f) for f in fields]
    assert len(other.failures) == len(stored.record.failures)


def test_an_eager_job_that_fails_is_stored_failed_with_every_attempt(bb: Backburner) -> None:
    flaky = flaky_task(bb)
    with eager(bb):
        job = flaky.delay(5)
    assert job.status is JobStatus.FAILED and job.attempts == 3
    assert job.error is not None and job.error.startswith("ValueError: attempt 3 failed")
    assert [f.attempt for f in job.record.failures] == [1, 2, 3]
    with pytest.raises(JobFailed):
        job.wait(timeout=1)


def test_eager_runs_only_the_job_it_enqueued(bb: Backburner) -> None:
    flaky = flaky_task(bb)
    waiting = flaky.options(priority=9).delay(0)  # queued before eager mode, more urgent
    with eager(bb):
        assert flaky.delay(0).status is JobStatus.SUCCEEDED
    assert waiting.refresh().status is JobStatus.QUEUED and waiting.attempts == 0


def test_an_eager_job_scheduled_for_later_is_stored_scheduled_and_not_run(
    bb: Backburner,
) -> None:
    flaky = flaky_task(bb)
    with eager(bb):
        job = flaky.schedule(args=(0,), delay=3600)
    assert job.status is JobStatus.SCHEDULED and job.attempts == 0
    assert job.refresh().status is JobStatus.SCHEDULED


def test_raise_errors_reraises_the_task_exception_after_storing_the_job(
    bb: Backburner,
) -> None:
    flaky = flaky_task(bb)
    with eager(bb, raise_errors=True), pytest.raises(ValueError, match="attempt 3 failed"):
        flaky.delay(5)
    [failed] = bb.store.list_jobs(status=JobStatus.FAILED)
    assert failed.task == "flaky" and failed.attempts == 3
    with eager(bb, raise_errors=True):
        assert flaky.delay(1).result == "done at 2", "a job that recovers raises nothing"


def test_a_backburner_made_eager_raise_reraises(tmp_path: Path) -> None:
    bb = Backburner("memory://", eager=True, eager_raise=True)

    @bb.task(retries=0)
    def boom() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        boom.delay()
    with eager(bb, raise_errors=False):
        assert boom.delay().status is JobStatus.FAILED, "an eager() block overrides it"


def test_an_eager_failure_is_logged(bb: Backburner, caplog: pytest.LogCaptureFixture) -> None:
    flaky = flaky_task(bb)
    with caplog.at_level(logging.WARNING, logger="backburner.worker"), eager(bb):
        job = flaky.delay(5)
    logged = [r.getMessage() for r in caplog.records if r.name == "backburner.worker"]
    assert any(job.id in m and "failed: ValueError: attempt 3 failed" in m for m in logged)


def test_signals_fire_in_eager_mode_as_in_a_worker(bb: Backburner) -> None:
    @bb.task(name="again", retries=1)
    def again() -> str:
        if current_job.attempt == 1:
            raise Retry(delay=60)
        return "ok"

    heard: list[str] = []

    names = ("job_enqueued", "job_started", "job_retrying", "job_succeeded", "job_failed")
    receivers = []
    for name in names:

        def hear(sender: Backburner, _name: str = name, **data: Any) -> None:
            heard.append(_name)

        getattr(signals, name).connect(hear, sender=bb)
        receivers.append((name, hear))
    try:
        again.delay()
        drain(bb)
        by_worker, heard[:] = list(heard), []
        with eager(bb):
            assert again.delay().result == "ok"
    finally:
        for name, hear in receivers:
            getattr(signals, name).disconnect(hear, sender=bb)
    assert by_worker == [
        "job_enqueued",
        "job_started",
        "job_retrying",
        "job_started",
        "job_succeeded",
    ]
    assert heard == by_worker
