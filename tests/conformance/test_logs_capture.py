"""Capture of a job's output, run in this process as a worker child runs a job (the
same `Shipper.capturing` around `execute`), on every store; test_logs_worker.py does it
with real worker processes."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from backburner import Backburner, Job, JobStatus
from backburner.context import JobContext
from backburner.worker import capture
from backburner.worker.runner import execute, record_outcome

from .. import logsapp
from ..helpers import wait_until


@pytest.fixture
def bb(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backburner]:
    # what install() rewires, put back after the test
    monkeypatch.setattr(logging.Handler, "handle", logging.Handler.handle)
    monkeypatch.setattr(threading.Thread, "start", threading.Thread.start)
    factory = logging.getLogRecordFactory()
    app = logsapp.build(store_url)
    yield app
    logging.setLogRecordFactory(factory)
    app.close()


def install() -> None:
    """capture.install() once per test, in the test's own phase: pytest gives each phase
    its own sys.stdout and sys.stderr, and puts them back after it."""
    if not isinstance(sys.stdout, capture._Tee):
        capture.install()


def run(bb: Backburner, job: Job, shipper: capture.Shipper | None = None) -> Job:
    """Claim `job` and run one attempt as a worker child does."""
    install()
    shipper = shipper or capture.Shipper(bb)
    record = bb.store.claim_job(job.id, "w", 30)
    assert record is not None
    ctx = JobContext(bb.store, record.id, record.token, record.attempts, record.task)
    with shipper.capturing(record):
        outcome = execute(bb, record, ctx)
    shipper.flush()
    record_outcome(bb, record, outcome, backoff=False)
    return job.refresh()


def test_print_stderr_logging_and_a_started_thread_are_kept_in_order(bb: Backburner) -> None:
    job = run(bb, bb.tasks["speaks"].delay())
    assert job.status is JobStatus.SUCCEEDED
    lines = job.logs()
    assert [(x.stream, x.level, x.message.splitlines()[0]) for x in lines] == [
        ("stdout", None, "to stdout"),
        ("stderr", None, "to stderr"),
        ("log", "WARNING", "a logging record"),
        ("log", "ERROR", "with a traceback"),
        ("stdout", None, "from a thread the job started"),
        ("stdout", None, "no newline at the end"),
    ]
    assert "KeyError: 'k'" in lines[3].message  # the traceback comes with its record
    assert [x.seq for x in lines] == [1, 2, 3, 4, 5, 6]
    assert all(x.attempt == 1 and x.at > 0 for x in lines)


def test_lines_past_the_cap_are_dropped_and_counted_in_a_last_line(bb: Backburner) -> None:
    lines = run(bb, bb.tasks["floods"].delay(5215)).logs()
    assert [x.message for x in lines[:5]] == [f"line {i}" for i in range(5)]
    assert len(lines) == 6
    assert lines[5].message.startswith("... 5,210 more lines dropped")
    assert (lines[5].stream, lines[5].level) == ("log", "WARNING")


def test_the_byte_cap_keeps_the_lines_that_fit(bb: Backburner) -> None:
    lines = run(bb, bb.tasks["floods_bytes"].delay()).logs()
    assert [x.message[:2] for x in lines[:3]] == ["00", "01", "02"]
    assert lines[3].message.startswith("... 17 more lines dropped")


def test_a_cap_of_zero_keeps_nothing(bb: Backburner) -> None:
    job = run(bb, bb.tasks["silent_task"].delay())
    assert job.status is JobStatus.SUCCEEDED and job.logs() == []


def test_a_job_that_writes_nothing_has_no_log(bb: Backburner) -> None:
    assert run(bb, bb.tasks["nothing"].delay()).logs() == []


def test_each_attempt_keeps_its_own_lines(bb: Backburner) -> None:
    job = bb.tasks["fails_then_speaks"].delay()
    for _ in range(3):
        run(bb, job)
    assert job.status is JobStatus.SUCCEEDED
    assert [(x.attempt, x.message) for x in job.logs()] == [
        (1, "attempt 1 starts"),
        (2, "attempt 2 starts"),
        (3, "attempt 3 starts"),
    ]
    assert [x.message for x in job.logs(attempt=2)] == ["attempt 2 starts"]


def test_lines_reach_the_store_while_the_job_runs(bb: Backburner) -> None:
    install()
    shipper = capture.Shipper(bb)
    threading.Thread(target=shipper.run, daemon=True).start()
    job = bb.tasks["ticks"].delay(40, 0.05)
    runner = threading.Thread(target=run, args=(bb, job, shipper))
    runner.start()
    try:
        # seen before the job ends: written by the shipper, not only at the end
        wait_until(lambda: job.logs(), timeout=5)
        assert job.refresh().status is JobStatus.RUNNING
    finally:
        runner.join()
        shipper.stop()
    assert [x.message for x in job.logs()] == [f"tick {i}" for i in range(1, 41)]


def test_output_outside_a_job_is_not_kept_and_still_printed(
    bb: Backburner, capsys: pytest.CaptureFixture[str]
) -> None:
    job = run(bb, bb.tasks["nothing"].delay())
    print("between jobs")
    assert job.logs() == []
    assert "between jobs" in capsys.readouterr().out
