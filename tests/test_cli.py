"""The operator CLI against a real SQLite store."""

from __future__ import annotations

import json
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from backburner import Backburner, Job, JobStatus
from backburner.cli import main, parse_duration
from backburner.testing import drain


@pytest.fixture
def bb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backburner]:
    app = Backburner(f"sqlite:///{tmp_path}/jobs.db")

    @app.task(name="ok")
    def ok(n: int) -> int:
        return n

    @app.task(name="bad", retries=0)
    def bad() -> None:
        raise KeyError("missing thing")

    monkeypatch.setitem(sys.modules, "cliapp", types.SimpleNamespace(bb=app))
    yield app
    app.close()


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_status_counts_per_queue_and_status(bb: Backburner) -> None:
    bb.tasks["ok"].delay(1)
    bb.tasks["ok"].options(queue="mail").delay(2)
    bb.tasks["bad"].delay()
    drain(bb, ["default"])
    out = run("status", "cliapp:bb")
    assert "QUEUE" in out and "no live workers" in out
    data = json.loads(run("status", "cliapp:bb", "--json"))
    zeros = dict.fromkeys((s.value for s in JobStatus), 0)  # every status, zeros too
    assert data["queues"] == {
        "default": {**zeros, "succeeded": 1, "failed": 1},
        "mail": {**zeros, "queued": 1},
    }
    assert data["workers"] == []


def test_jobs_filters_and_json(bb: Backburner) -> None:
    a = bb.tasks["ok"].delay(1)
    b = bb.tasks["ok"].options(queue="mail").delay(2)
    listed = json.loads(run("jobs", "cliapp:bb", "--json"))
    assert [j["id"] for j in listed] == [b.id, a.id]
    only = json.loads(run("jobs", "cliapp:bb", "--queue", "mail", "--json"))
    assert [j["id"] for j in only] == [b.id]
    assert a.id in run("jobs", "cliapp:bb", "--status", "queued", "--limit", "5")
    assert "no jobs" in run("jobs", "cliapp:bb", "--task", "nothing")


def test_json_output_is_the_records_own_shape(bb: Backburner) -> None:
    job = bb.tasks["bad"].delay()
    drain(bb)
    record = bb.store.get(job.id)
    assert record is not None
    summary = record.to_dict()
    assert list(summary) == [
        "id",
        "task",
        "queue",
        "status",
        "priority",
        "attempts",
        "max_attempts",
        "created_at",
        "run_at",
        "started_at",
        "finished_at",
        "progress",
        "error",
        "schedule",
        "scheduled_for",
    ]
    assert summary["error"] == "KeyError: 'missing thing'", "only the first line"
    assert json.loads(run("jobs", "cliapp:bb", "--json")) == [summary]
    full = json.loads(run("show", "cliapp:bb", job.id, "--json"))
    assert full == {**record.to_dict(full=True), "dependencies": [], "dependents": []}
    assert list(full) == [
        *summary,
        *("payload", "result", "worker_id", "failures", "depends_on"),
        *("dependencies", "dependents"),
    ]
    assert full["error"].startswith("KeyError") and "Traceback" in full["error"]


def test_show_prints_attempts_with_tracebacks(bb: Backburner) -> None:
    job = bb.tasks["bad"].delay()
    drain(bb)
    out = run("show", "cliapp:bb", job.id)
    assert "failed" in out and "attempt 1 failed" in out
    assert "KeyError: 'missing thing'" in out and "Traceback" in out
    data = json.loads(run("show", "cliapp:bb", job.id, "--json"))
    assert data["failures"][0]["attempt"] == 1
    missing = CliRunner().invoke(main, ["show", "cliapp:bb", "nope"])
    assert missing.exit_code == 1 and "no job 'nope'" in missing.output


def test_retry_cancel_and_purge(bb: Backburner) -> None:
    failed = [bb.tasks["bad"].delay() for _ in range(3)]
    drain(bb)
    assert "1 job(s) queued again" in run("retry", "cliapp:bb", failed[0].id)
    assert failed[0].refresh().status is JobStatus.QUEUED
    assert "2 job(s) queued again" in run("retry", "cliapp:bb", "--all-failed")
    pending = bb.tasks["ok"].delay(5)
    assert f"{pending.id}: cancelled" in run("cancel", "cliapp:bb", pending.id)
    drain(bb)
    assert "0 job(s) deleted" in run(
        "purge", "cliapp:bb", "--status", "failed", "--older-than", "1d"
    )
    assert "4 job(s) deleted" in run(
        "purge", "cliapp:bb", "--status", "failed", "--status", "cancelled"
    )
    usage = CliRunner().invoke(main, ["retry", "cliapp:bb"])
    assert usage.exit_code == 2 and "--all-failed" in usage.output


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("1.5h") == 5400
    with pytest.raises(Exception, match="not a duration"):
        parse_duration("soon")


def test_worker_options_from_environment(bb: Backburner, monkeypatch: pytest.MonkeyPatch) -> None:
    job = bb.tasks["ok"].delay(3)
    monkeypatch.setenv("BACKBURNER_BURST", "1")
    monkeypatch.setenv("BACKBURNER_PROCESSES", "1")
    monkeypatch.setenv("BACKBURNER_APP", "cliapp:bb")
    began = time.monotonic()
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 0, result.output
    assert job.refresh().result == 3 and time.monotonic() - began < 30


def test_migrate_reports_the_schema_version(bb: Backburner) -> None:
    assert "schema at version 1" in run("migrate", "cliapp:bb")


def test_cancel_and_retry_of_an_unknown_id_exit_1_saying_no_such_job(bb: Backburner) -> None:
    known = bb.tasks["ok"].delay(1)
    cancel = CliRunner().invoke(main, ["cancel", "cliapp:bb", "nope", known.id])
    assert cancel.exit_code == 1 and "nope: no such job" in cancel.output
    assert known.refresh().status is JobStatus.CANCELLED, "the known id is still cancelled"
    retry = CliRunner().invoke(main, ["retry", "cliapp:bb", "nope"])
    assert retry.exit_code == 1 and "nope: no such job" in retry.output
    assert "not failed" not in retry.output


def test_cancel_sends_the_job_cancelled_signal(bb: Backburner) -> None:
    from backburner import signals

    job = bb.tasks["ok"].delay(1)
    heard: list[str] = []

    def receiver(sender: Backburner, job: Job, **data: object) -> None:
        heard.append(job.id)

    signals.job_cancelled.connect(receiver, sender=bb)
    try:
        run("cancel", "cliapp:bb", job.id)
    finally:
        signals.job_cancelled.disconnect(receiver, sender=bb)
    assert heard == [job.id]


def test_cancel_by_queue_status_and_task(bb: Backburner) -> None:
    mail = [bb.tasks["ok"].options(queue="mail").delay(n) for n in range(3)]
    other_task = bb.tasks["bad"].options(queue="mail").delay()
    later = bb.tasks["ok"].options(queue="mail").schedule(args=(9,), delay=3600)
    default = bb.tasks["ok"].delay(4)
    out = run("cancel", "cliapp:bb", "--queue", "mail", "--status", "queued", "--task", "ok")
    assert "3 job(s) cancelled" in out
    assert all(j.refresh().status is JobStatus.CANCELLED for j in mail)
    assert other_task.refresh().status is JobStatus.QUEUED
    assert later.refresh().status is JobStatus.SCHEDULED
    assert default.refresh().status is JobStatus.QUEUED
    assert "1 job(s) cancelled" in run("cancel", "cliapp:bb", "--status", "scheduled")
    assert later.refresh().status is JobStatus.CANCELLED
    both = CliRunner().invoke(main, ["cancel", "cliapp:bb", default.id, "--status", "queued"])
    assert both.exit_code == 2
    unfiltered = CliRunner().invoke(main, ["cancel", "cliapp:bb", "--queue", "mail"])
    assert unfiltered.exit_code == 2 and "--status" in unfiltered.output


def test_purge_dry_run_counts_and_deletes_nothing(bb: Backburner) -> None:
    failed = [bb.tasks["bad"].delay() for _ in range(2)]
    bb.tasks["ok"].delay(1)
    drain(bb)
    out = run("purge", "cliapp:bb", "--status", "failed", "--dry-run")
    assert "2 job(s) would be deleted" in out
    assert all(j.refresh().status is JobStatus.FAILED for j in failed)
    assert "0 job(s) would be deleted" in run(
        "purge", "cliapp:bb", "--status", "failed", "--older-than", "1d", "--dry-run"
    )
    assert "1 job(s) would be deleted" in run("purge", "cliapp:bb", "--dry-run")
    assert "2 job(s) deleted" in run("purge", "cliapp:bb", "--status", "failed")


def test_show_prints_arguments_as_python_values_and_json_as_json(bb: Backburner) -> None:
    @bb.task(name="greet")
    def greet(name: str, times: int = 1, *, tags: list[str] | None = None) -> None: ...

    job = greet.delay("Ada", 2, tags=["a", "b"])
    assert "arguments  'Ada', 2, tags=['a', 'b']" in run("show", "cliapp:bb", job.id)
    data = json.loads(run("show", "cliapp:bb", job.id, "--json"))
    assert data["payload"] == {"args": ["Ada", 2], "kwargs": {"tags": ["a", "b"]}}
    assert "arguments  -" in run("show", "cliapp:bb", bb.tasks["bad"].delay().id)


def test_show_marks_a_manual_retry_in_the_history(bb: Backburner) -> None:
    job = bb.tasks["bad"].delay()
    drain(bb)
    run("retry", "cliapp:bb", job.id)
    out = run("show", "cliapp:bb", job.id)
    assert "attempt 1 failed" in out and "retried by hand at" in out
    data = json.loads(run("show", "cliapp:bb", job.id, "--json"))
    assert data["failures"][0]["retried_at"] >= data["failures"][0]["at"]


def test_show_and_jobs_print_control_characters_as_escapes(
    bb: Backburner,
) -> None:
    from backburner import current_job

    @bb.task(name="sly", retries=0)
    def sly() -> None:
        current_job.set_progress(1, 2, "\x1b]0;owned\x07half")
        raise ValueError("\x1b[2J\x1b[Hall clear\u202e")

    job = sly.delay()
    drain(bb)
    shown = run("show", "cliapp:bb", job.id)
    listed = run("jobs", "cliapp:bb")
    for out in (shown, listed):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b]0;owned\\x07half" in listed
    assert "ValueError: \\x1b[2J\\x1b[Hall clear\\u202e" in shown
    assert "Traceback (most recent call last):\n" in shown  # its lines kept


def test_the_worker_log_prints_control_characters_as_escapes() -> None:
    import logging

    from backburner.worker.output import setup_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO")
        [handler] = root.handlers
        record = logging.LogRecord("x", 40, "f", 1, "failed: %s", ("a\x1b[2Jb\nc",), None)
        assert handler.filter(record)  # tags it with the job id, as logging would
        assert handler.format(record).endswith("failed: a\\x1b[2Jb\nc")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_help_says_the_current_folder_comes_first_on_sys_path() -> None:
    out = " ".join(run("--help").split())
    assert "current folder first on sys.path, as `flask --app` does" in out


def test_jobs_limit_and_offset_past_what_a_store_holds_are_usage_errors(bb: Backburner) -> None:
    for option in ("--limit", "--offset"):
        result = CliRunner().invoke(main, ["jobs", "cliapp:bb", option, "99999999999999999999"])
        assert result.exit_code == 2 and "is not in the range" in result.output


def test_show_lists_dependencies_and_retry_points_at_the_failed_one(bb: Backburner) -> None:
    failed = bb.tasks["bad"].delay()
    child = bb.tasks["ok"].options(depends_on=[failed]).delay(1)
    drain(bb)
    out = run("show", "cliapp:bb", child.id)
    assert "dependencies:" in out and f"{failed.id}  failed" in out
    assert f"dependency {failed.id} failed" in out
    assert f"{child.id}  cancelled" in run("show", "cliapp:bb", failed.id)
    result = CliRunner().invoke(main, ["retry", "cliapp:bb", child.id])
    assert f"dependencies ['{failed.id}'] have not succeeded (retry those)" in result.output
    assert "1 job(s) queued again" in run("retry", "cliapp:bb", failed.id)
    data = json.loads(run("show", "cliapp:bb", child.id, "--json"))
    assert data["status"] == "waiting"
    assert data["dependencies"] == [{"id": failed.id, "task": "bad", "status": "queued"}]
