"""Job logs with real worker processes (`backburner worker logsapp:bb`) on every store
that processes can share: capture in the worker child, attempts kept apart, a job
killed mid-run keeps what was flushed, and `backburner logs --follow`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner, JobStatus

from .. import logsapp
from ..helpers import SRC, TESTS, Start, wait_until

APP = "logsapp:bb"


@pytest.fixture
def bb(shared_url: str) -> Iterator[Backburner]:
    app = logsapp.build(shared_url)
    yield app
    app.close()


def cli(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": f"{TESTS}{os.pathsep}{SRC}"}
    return subprocess.Popen(
        [sys.executable, "-m", "backburner", *args],
        cwd=TESTS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_worker_keeps_print_stderr_and_logging_and_still_logs_them(
    bb: Backburner, shared_url: str, start: Start
) -> None:
    job = bb.tasks["speaks"].delay()
    worker = start(shared_url, "--burst", "-p", "1", app=APP)
    assert worker.wait() == 0
    assert job.refresh().status is JobStatus.SUCCEEDED
    assert [(x.stream, x.message.splitlines()[0]) for x in job.logs()] == [
        ("stdout", "to stdout"),
        ("stderr", "to stderr"),
        ("log", "a logging record"),
        ("log", "with a traceback"),
        ("stdout", "from a thread the job started"),
        ("stdout", "no newline at the end"),
    ]
    # the worker's own log has them as before, each once
    log = worker.log()
    for text in ("to stdout", "to stderr", "a logging record", "from a thread the job started"):
        assert log.count(text) == 1, (text, log)


def test_attempts_run_by_a_worker_keep_their_own_lines(
    bb: Backburner, shared_url: str, start: Start
) -> None:
    job = bb.tasks["fails_then_speaks"].delay()
    start(shared_url, "-p", "1", app=APP)
    wait_until(lambda: job.refresh().status is JobStatus.SUCCEEDED, timeout=30)
    assert [(x.attempt, x.message) for x in job.logs()] == [
        (n, f"attempt {n} starts") for n in (1, 2, 3)
    ]
    assert [x.message for x in job.logs(attempt=3)] == ["attempt 3 starts"]


def test_a_job_killed_mid_run_keeps_the_lines_flushed_before(
    bb: Backburner, shared_url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    job = bb.tasks["hangs_after_printing"].delay(str(marker))
    worker = start(shared_url, "-p", "1", app=APP)
    # flushed while the job runs (it never ends by itself)
    wait_until(lambda: len(job.logs()) == 2, timeout=30)
    worker.kill_group()  # SIGKILL: no chance to write anything more
    assert [(x.stream, x.message) for x in job.logs()] == [
        ("stdout", "before the hang"),
        ("log", "a record before the hang"),
    ]


def test_logs_follow_prints_lines_as_stored_until_the_job_ends(
    bb: Backburner, shared_url: str, start: Start
) -> None:
    job = bb.tasks["ticks"].delay(12, 0.1)
    follow = cli(shared_url, "logs", APP, job.id, "--follow")
    try:
        start(shared_url, "-p", "1", app=APP)
        out, err = follow.communicate(timeout=60)  # it ends by itself when the job does
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 0, err
    assert [line.split()[-2:] for line in out.splitlines()] == [
        ["tick", str(i)] for i in range(1, 13)
    ]
    assert job.refresh().status is JobStatus.SUCCEEDED
    assert all(" #1 stdout " in line for line in out.splitlines())


def test_logs_json_and_attempt_and_an_unknown_job(
    bb: Backburner, shared_url: str, start: Start
) -> None:
    job = bb.tasks["fails_then_speaks"].delay()
    start(shared_url, "-p", "1", app=APP)
    wait_until(lambda: job.refresh().status is JobStatus.SUCCEEDED, timeout=30)
    out, _ = cli(shared_url, "logs", APP, job.id, "--attempt", "2", "--json").communicate(
        timeout=30
    )
    [line] = [json.loads(text) for text in out.splitlines()]
    assert (line["seq"], line["attempt"], line["stream"], line["message"]) == (
        2,
        2,
        "stdout",
        "attempt 2 starts",
    )
    missing = cli(shared_url, "logs", APP, "nope")
    _, err = missing.communicate(timeout=30)
    assert missing.returncode == 1 and "no job 'nope'" in err


def test_terminal_output_shows_control_characters_as_escapes(
    bb: Backburner, shared_url: str
) -> None:
    from backburner.logs import LogLine

    job = bb.tasks["nothing"].delay()
    bb.store.append_logs({job.id: [LogLine(0.0, 1, "stdout", None, "\x1b]0;pwned\x07red")]})
    out, _ = cli(shared_url, "logs", APP, job.id).communicate(timeout=30)
    assert "\\x1b]0;pwned\\x07red" in out and "\x1b" not in out
