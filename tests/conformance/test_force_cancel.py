"""Forced cancel with real worker processes on every store that processes can share: the
supervisor stops a job that ignores the cancel, even one stuck in C code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner, JobStatus

from .. import cancelapp
from ..helpers import Start, wait_until

GRACE = 0.5
# a lease of 1.5 s: the worker heartbeats, and so learns of a cancel, every 0.5 s
WORKER = ("-p", "1", "--threads", "2", "--lease", "1.5")


@pytest.fixture
def bb(shared_url: str) -> Iterator[Backburner]:
    app = cancelapp.build(shared_url)
    yield app
    app.close()


def pid_in(marker: Path) -> int:
    """The pid a task wrote to `marker`, once it has (0 before)."""
    text = marker.read_text() if marker.exists() else ""
    return int(text) if text else 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("how", ["sleep", "masked", "regex"])
def test_a_job_that_ignores_a_forced_cancel_is_stopped_and_its_neighbours_run_again(
    bb: Backburner, shared_url: str, start: Start, tmp_path: Path, how: str
) -> None:
    stuck_marker, other_marker = tmp_path / "stuck", tmp_path / "other"
    stuck = bb.tasks["stuck"].delay(str(stuck_marker), how, str(other_marker))
    other = bb.tasks["sleep_once"].delay(str(other_marker))
    start(shared_url, *WORKER, app="cancelapp:bb")
    child = wait_until(lambda: pid_in(stuck_marker), timeout=30)
    assert other_marker.exists()
    assert stuck.cancel(force=True, grace=GRACE) is False  # running: asked, then stopped
    wait_until(lambda: stuck.refresh().status is JobStatus.CANCELLED, timeout=20)
    wait_until(lambda: not alive(child), timeout=10)
    record = stuck.record
    assert record.attempts == 1, "the attempt counts, and no other is made"
    assert (record.error or "").startswith(
        f"ForcedCancel: cancelled by force after {GRACE:g} s grace"
    )
    assert [f.error for f in record.failures] == [record.error]
    # the job the killed child was running beside it went back uncounted, and ran again
    assert other.wait(timeout=30) == "ran again"
    assert other.refresh().attempts == 1 and other.record.failures == ()
    after = bb.tasks["noop"].delay()
    after.wait(timeout=30)
    assert stuck.refresh().status is JobStatus.CANCELLED and stuck.attempts == 1


def test_a_forced_job_killed_along_with_another_ends_cancelled_and_says_why(
    bb: Backburner, shared_url: str, start: Start, tmp_path: Path
) -> None:
    first_marker, second_marker = tmp_path / "first", tmp_path / "second"
    first = bb.tasks["stuck"].delay(str(first_marker), "sleep")
    second = bb.tasks["stuck"].delay(str(second_marker), "sleep")
    start(shared_url, *WORKER, app="cancelapp:bb")
    wait_until(lambda: pid_in(first_marker) and pid_in(second_marker), timeout=30)
    # cancelled first, with a grace that outlasts the test: the worker learns of it no
    # later than of the first job's, whose short grace gets their process killed
    assert second.cancel(force=True, grace=600) is False
    assert first.cancel(force=True, grace=GRACE) is False
    wait_until(lambda: second.refresh().status is JobStatus.CANCELLED, timeout=20)
    assert (second.record.error or "").startswith("ForcedCancel: cancelled by force")
    assert f"its process was killed to stop job {first.id}" in (second.record.error or "")
    assert second.record.failures == (), "it did not fail"
    # the supervisor ends its dead child's jobs one by one: `first` may come a moment later
    wait_until(lambda: first.refresh().status is JobStatus.CANCELLED, timeout=20)


def test_a_job_that_stops_within_its_grace_keeps_its_process(
    bb: Backburner, shared_url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "polite"
    job = bb.tasks["polite"].delay(str(marker))
    worker = start(shared_url, *WORKER, app="cancelapp:bb")
    child = wait_until(lambda: pid_in(marker), timeout=30)
    job.cancel(force=True, grace=30)
    wait_until(lambda: job.refresh().status is JobStatus.CANCELLED, timeout=20)
    assert (job.error or "").startswith("RuntimeError: stopped on request")
    assert alive(child), "the child was killed though its job stopped in time"
    assert "killing child" not in worker.log()


def test_a_forced_cancel_of_a_queued_job_just_cancels_it(store_url: str) -> None:
    bb = cancelapp.build(store_url)
    job = bb.tasks["noop"].delay()
    assert job.cancel(force=True) is True
    assert job.status is JobStatus.CANCELLED and job.record.cancel_grace is None
    bb.close()
