"""The worker with real processes: crashes, timeouts, shutdown, retries, recycling, burst."""

from __future__ import annotations

import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner, JobFailed, JobStatus, JobTimeout
from backburner.job import JobRecord
from backburner.worker import messages, reports
from backburner.worker.messages import Cancel, Claimed, Exiting, Finished, Ran, Started, Stop
from backburner.worker.starts import Starts
from backburner.worker.supervisor import READ_EVERY, Child, Supervisor, WorkerConfig

from . import workerapp
from .helpers import SRC, TESTS, Start, wait_until


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/jobs.db"


@pytest.fixture
def bb(url: str) -> Iterator[Backburner]:
    app = workerapp.build(url)
    yield app
    app.close()


def status_of(bb: Backburner, job_id: str) -> JobStatus:
    record = bb.store.get(job_id)
    assert record is not None
    return record.status


@pytest.mark.parametrize("shape", [("-p", "2"), ("-p", "1", "--threads", "3")], ids=str)
def test_burst_runs_every_due_job_then_exits_zero(
    bb: Backburner, url: str, start: Start, shape: tuple[str, ...]
) -> None:
    jobs = [bb.tasks["noop"].delay() for _ in range(60)]
    later = bb.tasks["noop"].schedule(delay=3600)
    worker = start(url, "--burst", *shape)
    assert worker.wait(60) == 0
    assert {status_of(bb, j.id) for j in jobs} == {JobStatus.SUCCEEDED}
    assert status_of(bb, later.id) is JobStatus.SCHEDULED


def test_sigkill_of_a_child_mid_job_fails_that_attempt_and_retries_at_once(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["hang_first"].delay(str(marker))
    worker = start(url, "-p", "1", "--lease", "60")
    wait_until(lambda: marker.exists() and marker.read_text().endswith(" 1"), timeout=20)
    child_pid = int(marker.read_text().split()[0])
    killed_at = time.monotonic()
    os.kill(child_pid, signal.SIGKILL)
    wait_until(lambda: status_of(bb, job.id) is JobStatus.SUCCEEDED, timeout=20)
    assert time.monotonic() - killed_at < 10, "retried only after the lease lapsed"
    record = job.refresh().record
    assert record.attempts == 2
    assert "worker process died (signal 9" in record.failures[0].error
    assert job.result == "second attempt ran"
    assert worker.proc.poll() is None, "the supervisor must survive its child"


def test_whole_worker_killed_then_another_takes_over_after_the_lease(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["hang_first"].delay(str(marker))
    first = start(url, "-p", "1", "--lease", "2")
    wait_until(lambda: marker.exists() and marker.read_text().endswith(" 1"), timeout=20)
    first.kill_group()
    assert status_of(bb, job.id) is JobStatus.RUNNING
    start(url, "-p", "1", "--lease", "2")
    wait_until(lambda: status_of(bb, job.id) is JobStatus.SUCCEEDED, timeout=30)
    record = job.refresh().record
    assert record.attempts == 2 and "LeaseExpired" in record.failures[0].error


def test_timeout_kills_the_child_fails_the_attempt_and_a_fresh_child_goes_on(
    bb: Backburner, url: str, start: Start
) -> None:
    slow = bb.tasks["too_slow"].delay()
    start(url, "-p", "1")
    wait_until(lambda: status_of(bb, slow.id) is JobStatus.FAILED, timeout=20)
    assert "JobTimeout" in (slow.refresh().error or "")
    with pytest.raises(JobTimeout) as raised:  # a JobFailed that says why
        slow.wait(timeout=1)
    assert isinstance(raised.value, JobFailed) and raised.value.job is slow
    after = bb.tasks["noop"].delay()
    wait_until(lambda: status_of(bb, after.id) is JobStatus.SUCCEEDED, timeout=20)


def test_sigterm_lets_running_jobs_finish(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["sleep"].delay(1.0, str(marker))
    waiting = bb.tasks["noop"].schedule(delay=0.5)
    worker = start(url, "-p", "1", "--shutdown-timeout", "20")
    wait_until(marker.exists, timeout=20)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert status_of(bb, job.id) is JobStatus.SUCCEEDED
    assert status_of(bb, waiting.id) is JobStatus.QUEUED, "claimed after SIGTERM"


def test_shutdown_timeout_hands_unfinished_jobs_back_without_counting(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["sleep"].delay(120, str(marker))
    worker = start(url, "-p", "1", "--shutdown-timeout", "1")
    wait_until(marker.exists, timeout=20)
    began = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert time.monotonic() - began < 10
    record = job.refresh().record
    assert record.status is JobStatus.QUEUED and record.attempts == 0 and not record.failures


def warm(bb: Backburner) -> float:
    """Run short jobs so the worker thread learns to claim in batches; returns a due time
    for jobs that should be claimed together."""
    jobs = [bb.tasks["noop"].delay() for _ in range(40)]
    wait_until(lambda: all(status_of(bb, j.id) is JobStatus.SUCCEEDED for j in jobs), timeout=20)
    return time.time() + 0.5


def warm_then_batch(bb: Backburner, first: str, *args: object) -> tuple[str, list[str]]:
    """Make `first` and 10 noops due together on a warmed worker: one claim takes `first`
    and the noops queued behind it."""
    due = warm(bb)
    head = bb.tasks[first].schedule(args, at=due)
    behind = [bb.tasks["noop"].schedule(at=due) for _ in range(10)]
    return head.id, [j.id for j in behind]


def test_sigkill_mid_batch_counts_only_the_running_job(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    start(url, "-p", "1", "--lease", "60")
    head, behind = warm_then_batch(bb, "hang_first", str(marker))
    wait_until(lambda: marker.exists() and marker.read_text().endswith(" 1"), timeout=20)
    os.kill(int(marker.read_text().split()[0]), signal.SIGKILL)
    wait_until(lambda: status_of(bb, head) is JobStatus.SUCCEEDED, timeout=20)
    assert "worker process died" in bb.get_job(head).record.failures[0].error  # type: ignore[union-attr]
    wait_until(lambda: all(status_of(bb, j) is JobStatus.SUCCEEDED for j in behind), timeout=20)
    records = [bb.store.get(j) for j in behind]
    assert all(r is not None and r.attempts == 1 and not r.failures for r in records)
    # claimed with the killed job, handed back uncounted, claimed again
    assert any(r is not None and r.token == 2 for r in records), "no batch was claimed"


def test_a_slow_job_does_not_hold_back_the_results_before_it(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    start(url, "-p", "1")
    due = warm(bb)
    before = [bb.tasks["noop"].schedule(at=due) for _ in range(5)]
    slow = bb.tasks["sleep"].schedule((30, str(marker)), at=due)
    wait_until(marker.exists, timeout=20)
    wait_until(lambda: all(status_of(bb, j.id) is JobStatus.SUCCEEDED for j in before), timeout=2)
    assert status_of(bb, slow.id) is JobStatus.RUNNING


def test_sigterm_mid_batch_hands_back_the_jobs_not_started(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    worker = start(url, "-p", "1", "--shutdown-timeout", "20")
    head, behind = warm_then_batch(bb, "sleep", 1.0, str(marker))
    wait_until(marker.exists, timeout=20)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert status_of(bb, head) is JobStatus.SUCCEEDED
    records = [bb.store.get(j) for j in behind]
    assert all(r is not None and r.status is JobStatus.QUEUED for r in records)
    assert all(r is not None and r.attempts == 0 and not r.failures for r in records)
    assert any(r is not None and r.token == 1 for r in records), "no batch was claimed"


def test_jobs_claimed_behind_a_slow_one_go_to_another_worker(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    start(url, "-p", "1")
    head, behind = warm_then_batch(bb, "sleep", 30, str(marker))
    wait_until(marker.exists, timeout=20)  # the batch is claimed, its first job running
    start(url, "-p", "1")  # a second worker: it can only get what the first hands back
    wait_until(lambda: all(status_of(bb, j) is JobStatus.SUCCEEDED for j in behind), timeout=10)
    assert status_of(bb, head) is JobStatus.RUNNING
    records = [bb.store.get(j) for j in behind]
    assert all(r is not None and r.attempts == 1 and not r.failures for r in records)
    assert all(r is not None and r.token == 2 for r in records), "claimed once only?"


def _child_with_reports(index: int = 0) -> tuple[Child, reports.Writer]:
    reader, writer = reports.pipe()
    stand_in = types.SimpleNamespace(kill=lambda: None, sentinel=-1)
    return Child(index, stand_in, None, reader, Starts(8)), writer  # type: ignore[arg-type]


def claimed_event(r: JobRecord) -> Claimed:
    return Claimed(
        job_id=r.id,
        token=r.token,
        attempts=r.attempts,
        max_attempts=r.max_attempts,
        retry_backoff=r.retry_backoff,
        timeout=None,
    )


def test_a_report_about_an_earlier_attempt_does_not_touch_the_current_one() -> None:
    sup = Supervisor(Backburner("memory://"), WorkerConfig())
    child, writer = _child_with_reports()
    # thread A's attempt 1 failed and was claimed again by thread B (token 2) before
    # A's Finished for token 1 reached the supervisor
    first = Claimed(
        job_id="j", token=1, attempts=1, max_attempts=3, retry_backoff=0.0, timeout=None
    )
    again = first._replace(token=2, attempts=2)
    writer.send((first, Started(job_id="j", token=1, at=10.0)))
    writer.send((again, Started(job_id="j", token=2, at=11.0)))
    writer.send((Finished(job_id="j", token=1),))
    sup._read(child)
    held = child.jobs["j"]
    assert (held.token, held.started) == (2, 11.0), "still heartbeated and timed"
    writer.send((Started(job_id="j", token=1, at=12.0), Finished(job_id="j", token=2)))
    sup._read(child)
    assert child.jobs == {}


@pytest.mark.parametrize(
    "message",
    [
        Claimed(job_id="j", token=2, attempts=3, max_attempts=4, retry_backoff=0.5, timeout=9.0),
        Started(job_id="j", token=2, at=12.5),
        Finished(job_id="j", token=2),
        Exiting(),
        Ran(task="t", queue="q", outcome="succeeded", duration=0.25),
        Stop(),
        Cancel(job_id="j"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_message_crosses_the_process_boundary_intact(message: object) -> None:
    # commands go over a multiprocessing Connection (pickle), events over reports (encode)
    copy = pickle.loads(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
    assert copy == message and type(copy) is type(message)
    if not isinstance(message, (Stop, Cancel)):
        [decoded] = messages.decode(messages.encode([message]))  # type: ignore[list-item]
        assert decoded == message and type(decoded) is type(message)


def test_jobs_left_by_a_child_that_ended_normally_go_back_uncounted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bb = Backburner("memory://")

    @bb.task(name="t")
    def t() -> None: ...

    jobs = [t.delay(), t.delay()]
    sup = Supervisor(bb, WorkerConfig())
    claimed = bb.store.claim(None, "w", 2, 30.0)
    child, writer = _child_with_reports()
    for r in claimed:  # started, succeeded, but the store was down when it recorded them
        writer.send((claimed_event(r), Started(job_id=r.id, token=r.token, at=1.0)))
    writer.send((Exiting(),))
    sup._read(child)
    with caplog.at_level("INFO", logger="backburner.worker"):
        sup._fail_orphans(child, 0)
    for job in jobs:
        record = job.refresh().record
        assert record.status is JobStatus.QUEUED and record.attempts == 0
        assert not record.failures
        # they ran: their next run repeats the attempt number, and the log says why
        assert (
            f"job {job.id} handed back to the queue (its outcome could not be recorded): ok"
            in caplog.text
        )


def test_a_child_that_died_fails_what_it_ran_and_hands_back_the_rest() -> None:
    bb = Backburner("memory://")

    @bb.task(name="t")
    def t() -> None: ...

    ran, waiting = t.delay(), t.delay()
    sup = Supervisor(bb, WorkerConfig())
    first, second = bb.store.claim(None, "w", 2, 30.0)
    child, writer = _child_with_reports()
    events = [claimed_event(r) for r in (first, second)]
    writer.send((*events, Started(job_id=first.id, token=first.token, at=1.0)))
    sup._read(child)
    sup._fail_orphans(child, -9)
    assert "worker process died" in (ran.refresh().record.failures[0].error)
    record = waiting.refresh().record
    assert record.status is JobStatus.QUEUED and record.attempts == 0 and not record.failures


def test_a_dead_childs_table_of_starts_says_which_attempts_count() -> None:
    bb = Backburner("memory://")

    @bb.task(name="t")
    def t() -> None: ...

    running, ended, waiting = t.delay(), t.delay(), t.delay()
    sup = Supervisor(bb, WorkerConfig())
    claimed = bb.store.claim(None, "w", 3, 30.0)
    child, writer = _child_with_reports()
    # as the child does: a cell per claim, sent with the claim; starts only in the table
    cells = {r.id: child.starts.claim(r.id, r.token) for r in claimed}
    writer.send(tuple(claimed_event(r)._replace(cell=cells[r.id]) for r in claimed))
    by_id = {r.id: r for r in claimed}
    child.starts.start(running.id, by_id[running.id].token, 5.0)
    child.starts.start(ended.id, by_id[ended.id].token, 6.0)
    child.starts.end(ended.id, by_id[ended.id].token)  # ran; its Finished not sent yet
    sup._read(child)
    assert child.jobs[running.id].started == 5.0 and not child.jobs[running.id].ended
    assert child.jobs[ended.id].started == 6.0 and child.jobs[ended.id].ended
    assert child.jobs[waiting.id].started is None
    sup._fail_orphans(child, -9)
    for job in (running, ended):
        assert "worker process died" in job.refresh().record.failures[0].error
    record = waiting.refresh().record
    assert record.status is JobStatus.QUEUED and record.attempts == 0 and not record.failures


def test_an_ended_job_is_not_killed_for_its_timeout_while_its_report_is_on_its_way() -> None:
    sup = Supervisor(Backburner("memory://"), WorkerConfig())
    child, writer = _child_with_reports()
    cell = child.starts.claim("j", 1)
    claim = Claimed(
        job_id="j", token=1, attempts=1, max_attempts=1, retry_backoff=0.0, timeout=1.0, cell=cell
    )
    writer.send((claim,))
    sup._read(child)
    sup.children[child.index] = child
    sup.next_tick = sup.history.next_flush = time.monotonic() + 60
    now = time.monotonic()
    # its start makes no report: the supervisor looks for it in the table, and soon
    assert sup._next_deadline(now) <= now + READ_EVERY
    child.starts.start("j", 1, time.monotonic() - 60)
    sup._look(child)
    assert sup._overran(child, time.monotonic()) == "j"
    child.starts.end("j", 1)
    sup._look(child)
    assert sup._overran(child, time.monotonic()) is None


def test_second_signal_stops_at_once(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["sleep"].delay(120, str(marker))
    worker = start(url, "-p", "1", "--shutdown-timeout", "60")
    wait_until(marker.exists, timeout=20)
    worker.signal(signal.SIGINT)
    wait_until(lambda: "finishing running jobs" in worker.log(), timeout=20)  # on its own
    began = time.monotonic()
    worker.signal(signal.SIGINT)
    assert worker.wait(30) == 0
    assert time.monotonic() - began < 10
    assert job.refresh().status is JobStatus.QUEUED and job.attempts == 0


def test_a_resent_sigterm_is_not_a_second_signal(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["sleep"].delay(1.5, str(marker))
    worker = start(url, "-p", "1", "--shutdown-timeout", "30")
    wait_until(marker.exists, timeout=20)
    worker.signal(signal.SIGTERM)
    time.sleep(0.3)  # uWSGI resends SIGTERM every second while it waits for its daemons
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert job.refresh().status is JobStatus.SUCCEEDED


def test_retries_with_backoff_keep_every_error(bb: Backburner, url: str, start: Start) -> None:
    job = bb.tasks["flaky"].delay(2)
    start(url, "-p", "1")
    assert job.wait(timeout=20) == 3
    record = job.refresh().record
    assert record.attempts == 3
    assert [f.error.splitlines()[0] for f in record.failures] == [
        "ConnectionError: attempt 1 failed",
        "ConnectionError: attempt 2 failed",
    ]
    assert "Traceback" in record.failures[0].error


def test_the_worker_logs_each_job_with_its_duration(bb: Backburner, url: str, start: Start) -> None:
    ok = bb.tasks["noop"].delay()
    bad = bb.tasks["flaky"].options(retries=0).delay(1)
    worker = start(url, "--burst", "-p", "1")
    assert worker.wait(30) == 0
    log = worker.log()
    assert re.search(rf" INFO .*job {ok.id} \S+ succeeded in \d+\.\d{{3}}s \(attempt 1\)", log), log
    assert re.search(rf" INFO .*job {bad.id} \S+ raised in \d+\.\d{{3}}s \(attempt 1\)", log), log


def test_out_of_attempts_ends_failed(bb: Backburner, url: str, start: Start) -> None:
    job = bb.tasks["flaky"].options(retries=1).delay(5)
    start(url, "-p", "1")
    wait_until(lambda: status_of(bb, job.id) is JobStatus.FAILED, timeout=20)
    assert job.refresh().attempts == 2
    assert (job.error or "").startswith("ConnectionError: attempt 2 failed")


def test_raise_retry_reschedules_after_its_delay(bb: Backburner, url: str, start: Start) -> None:
    job = bb.tasks["retry_later"].delay(0.5)
    start(url, "-p", "1")
    second_start = job.wait(timeout=20)
    record = job.refresh().record
    assert record.attempts == 2
    assert second_start - record.failures[0].at >= 0.45


def test_poison_job_fails_after_its_attempts_and_the_worker_lives_on(
    bb: Backburner, url: str, start: Start
) -> None:
    poison = bb.tasks["suicide"].delay()
    worker = start(url, "-p", "1")
    wait_until(lambda: status_of(bb, poison.id) is JobStatus.FAILED, timeout=60)
    record = poison.refresh().record
    assert record.attempts == 3
    assert all("worker process died" in f.error for f in record.failures)
    healthy = bb.tasks["noop"].delay()
    wait_until(lambda: status_of(bb, healthy.id) is JobStatus.SUCCEEDED, timeout=60)
    assert worker.proc.poll() is None
    delays = [
        float(line.rsplit("restarting in ", 1)[1].rstrip("s"))
        for line in worker.log().splitlines()
        if "restarting in" in line
    ]
    assert len(delays) == 3 and delays == sorted(delays) and delays[0] < delays[-1], (
        "children crashing in a loop are restarted with growing backoff"
    )


def test_a_job_longer_than_its_lease_keeps_it(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    job = bb.tasks["sleep"].delay(4.0)
    start(url, "-p", "1", "--lease", "1")
    assert job.wait(timeout=30) == 4.0
    record = job.refresh().record
    assert record.attempts == 1 and not record.failures


def test_sys_exit_in_a_task_fails_only_that_attempt(bb: Backburner, url: str, start: Start) -> None:
    job = bb.tasks["exits"].delay()
    worker = start(url, "-p", "1")
    assert job.wait(timeout=20) == 2
    assert job.refresh().record.failures[0].error.startswith("SystemExit: 3")
    assert "restarting" not in worker.log()


def test_an_error_with_unstorable_text_is_recorded_escaped_not_lost(
    bb: Backburner, url: str, start: Start
) -> None:
    job = bb.tasks["bad_text"].delay()
    assert start(url, "-p", "1", "--burst").wait(60) == 0
    record = job.refresh().record
    assert record.status is JobStatus.FAILED and record.attempts == 1
    assert (record.error or "").startswith("ValueError: cannot open bad \\udcff name\\x00end\n")
    assert record.progress == {"done": 1, "total": 2, "message": "reading bad \\udcff name\\x00end"}


def test_a_dead_worker_thread_replaces_its_child_and_the_job_retries(
    bb: Backburner, url: str, start: Start
) -> None:
    job = bb.tasks["interrupts"].delay()
    worker = start(url, "-p", "1", "--lease", "60")
    assert job.wait(timeout=20) == 2
    assert "worker process died (exit code 5)" in job.refresh().record.failures[0].error
    assert "worker thread died" in worker.log()


def test_children_are_recycled_after_max_jobs(bb: Backburner, url: str, start: Start) -> None:
    jobs = [bb.tasks["pid"].delay() for _ in range(10)]
    worker = start(url, "--burst", "-p", "1", "--max-jobs-per-child", "3")
    assert worker.wait(60) == 0
    pids = [j.refresh().result for j in jobs]
    assert len(set(pids)) == 4
    assert "recycled after 3 jobs" in worker.log()


def test_cancel_reaches_a_running_job_and_stops_its_retries(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    job = bb.tasks["until_cancelled"].delay(str(marker))
    start(url, "-p", "1", "--lease", "1.5")
    wait_until(marker.exists, timeout=20)
    assert job.cancel() is False  # running: asked to stop
    wait_until(lambda: status_of(bb, job.id) is JobStatus.CANCELLED, timeout=20)
    record = job.refresh().record
    assert record.attempts == 1 and record.progress == {
        "done": 1,
        "total": None,
        "message": "waiting for cancel",
    }


def test_job_output_goes_to_the_worker_log_tagged_with_the_job_id(
    bb: Backburner, url: str, start: Start
) -> None:
    job = bb.tasks["chatty"].delay()
    worker = start(url, "--burst", "-p", "1")
    assert worker.wait(30) == 0
    lines = worker.log().splitlines()
    assert any(job.id in line and "hello from a job" in line for line in lines)
    assert any(job.id in line and "a warning from a job" in line for line in lines)


def test_run_worker_leaves_the_callers_logging_and_stdout_alone(bb: Backburner) -> None:
    jobs = [bb.tasks["noop"].delay(), bb.tasks["chatty"].delay()]
    root = logging.getLogger()
    handlers, level, stdout = list(root.handlers), root.level, sys.stdout
    assert bb.run_worker(processes=1, burst=True) == 0
    assert {status_of(bb, j.id) for j in jobs} == {JobStatus.SUCCEEDED}
    assert (root.handlers, root.level) == (handlers, level)
    assert sys.stdout is stdout


def test_the_worker_command_logs_its_start_and_stop(url: str, start: Start) -> None:
    worker = start(url, "--burst", "-p", "1", "--threads", "2")
    assert worker.wait(30) == 0
    log = worker.log()
    assert re.search(r" INFO +\[\d+\] \[-\] backburner\.worker: worker \S+: 1 process", log), log
    assert "1 process(es) x 2 thread(s), queues *" in log
    assert re.search(r"backburner\.worker: worker \S+ stopped", log), log


def test_idle_worker_starts_new_and_scheduled_jobs_promptly(
    bb: Backburner, url: str, start: Start
) -> None:
    start(url, "-p", "1")
    warm = bb.tasks["noop"].delay()
    warm.wait(timeout=20)
    time.sleep(0.3)  # let the worker go idle
    enqueued = time.time()
    started = bb.tasks["started_at"].delay().wait(timeout=10)
    assert started - enqueued < 0.5
    due = time.time() + 0.5
    started = bb.tasks["started_at"].schedule(at=due).wait(timeout=10)
    assert 0 <= started - due < 0.5


def test_status_lists_the_live_worker(bb: Backburner, url: str, start: Start) -> None:
    worker = start(url, "-p", "1")
    wait_until(lambda: bb.store.list_workers(alive_since=time.time() - 60), timeout=20)
    [info] = bb.store.list_workers(alive_since=time.time() - 60)
    assert info.pid == worker.pid
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert bb.store.list_workers(alive_since=0) == []


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("no_such_module:bb", "cannot import 'no_such_module'"),
        ("workerapp:nope", "has no attribute 'nope'"),
        ("workerapp:build", "not a Backburner"),
    ],
)
def test_bad_app_is_one_clear_line(app: str, expected: str, url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "backburner", "worker", app, "--burst"],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=60,
        env={"BACKBURNER_URL": url, "PYTHONPATH": f"{TESTS}:{SRC}", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_supervisor_hears_of_a_claim_before_any_thread_can_start_its_jobs() -> None:
    from backburner.worker import child
    from backburner.worker.batching import Claim

    record = JobRecord(id="j", task="noop", token=1, attempts=1)
    sent: list[object] = []
    state = types.SimpleNamespace(
        batches=types.SimpleNamespace(
            claim=lambda wanted: Claim(records=(record,), events=(Claimed.of(record),))
        ),
        send=lambda *events: sent.extend(events),
    )
    assert child._claim(state, 4) == (record,)  # type: ignore[arg-type]
    assert sent == [Claimed.of(record)]


def test_a_job_a_stopping_child_could_not_hand_back_stays_with_the_supervisor() -> None:
    from backburner.worker.batching import Batches

    bb = Backburner("memory://")
    bb.task(name="t", retries=0)(lambda: 1)
    bb.tasks["t"].delay()
    [record] = bb.store.claim(None, "w", 1, 30)
    sent: list[object] = []
    batches = Batches(bb, WorkerConfig(), "w", lambda *events: sent.extend(events))

    def broken(job_id: str, token: int) -> bool:
        raise OSError("disk full")

    bb.store.release = broken  # type: ignore[method-assign]
    batches.hand_back([record], "stopping")
    # no Finished: the supervisor keeps its lease and, once the child exits, hands it
    # back uncounted; a Finished would leave it to lapse and fail a job that never ran
    assert Finished(job_id=record.id, token=record.token) not in sent


def test_a_timeout_counts_from_the_start_not_from_the_next_heartbeat(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["sleep"].options(timeout=1, retries=0).delay(60, str(marker))
    start(url, "-p", "1", "--lease", "90")  # heartbeats every 30 s: far after the timeout
    wait_until(marker.exists, timeout=20)
    began = time.monotonic()
    wait_until(lambda: status_of(bb, job.id) is JobStatus.FAILED, timeout=20)
    assert time.monotonic() - began < 4, "the supervisor heard of the start late"
    assert "JobTimeout" in (job.refresh().error or "")


def _drain_in_a_child(jobs: int, starts: Starts) -> tuple[list[int], list[messages.Event]]:
    """Run `jobs` noops with one child's code in this process; the sizes of the messages
    it sent its supervisor, and their events."""
    import multiprocessing
    import threading

    from backburner.worker import child

    bb = workerapp.build("memory://")
    made = [bb.tasks["noop"].delay() for _ in range(jobs)]
    reader, writer = reports.pipe()
    sizes: list[int] = []
    events: list[messages.Event] = []

    def send(batch: tuple[messages.Event, ...]) -> None:
        sizes.append(len(batch))
        events.extend(batch)

    writer.send = send  # type: ignore[method-assign,assignment]
    commands, conn = multiprocessing.Pipe()
    state = child.ChildState(bb, WorkerConfig(burst=True), "w", conn, writer, starts)
    batcher = threading.Thread(target=state.batches.run)
    batcher.start()
    child._work(state)
    state.batches.close()
    batcher.join()
    assert {status_of(bb, j.id) for j in made} == {JobStatus.SUCCEEDED}
    finished = {(e.job_id, e.token) for e in events if isinstance(e, Finished)}
    assert finished == {(e.job_id, e.token) for e in events if isinstance(e, Claimed)}
    for end in (reader, writer, commands, conn):
        end.close()
    return sizes, events


def test_a_busy_child_reports_to_its_supervisor_once_per_claim_not_once_per_job() -> None:
    sizes, events = _drain_in_a_child(200, Starts(64))
    assert len(sizes) <= 200 / 4, "a message (and a wake-up) per job"
    assert not any(isinstance(e, Started) for e in events)
    assert all(isinstance(e, Claimed) and e.cell >= 0 for e in events if isinstance(e, Claimed))


def test_a_child_out_of_cells_reports_each_start_by_pipe() -> None:
    sizes, events = _drain_in_a_child(50, Starts(0))
    assert len(sizes) >= 50, "a start with no cell goes by pipe at once"
    claimed = {(e.job_id, e.token) for e in events if isinstance(e, Claimed)}
    assert all(isinstance(e, Claimed) and e.cell == -1 for e in events if isinstance(e, Claimed))
    assert {(e.job_id, e.token) for e in events if isinstance(e, Started)} == claimed
