"""The chaos suite's judge (tests/chaos.py) catches what it is there to catch: quick
tests on made-up sinks, so a judge that passes everything cannot go unnoticed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from backburner.job import JobRecord, JobStatus

from .chaos import Run, hand_backs, judge

DONE = JobStatus.SUCCEEDED


def record(job_id: str, attempts: int, token: int, status: JobStatus = DONE) -> JobRecord:
    return JobRecord(job_id, "chaos.record", status=status, attempts=attempts, token=token)


def test_a_clean_run_with_a_counted_retry_and_a_hand_back_passes() -> None:
    runs = [Run("a", 1, 1, 10), Run("b", 1, 1, 10), Run("b", 2, 2, 11), Run("b", 2, 3, 12)]
    records = {"a": record("a", 1, 1), "b": record("b", 2, 3)}
    verdict = judge(["a", "b"], records, runs, Counter({"b": 1}))
    assert verdict.problems() == {}
    assert (verdict.jobs, verdict.runs, verdict.counted, verdict.handed) == (2, 4, 1, 1)


def test_lost_and_never_run_jobs_are_reported() -> None:
    records = {"a": record("a", 1, 1, JobStatus.QUEUED), "b": None}
    verdict = judge(["a", "b"], records, [], Counter())
    assert len(verdict.lost) == 2 and verdict.never_ran == ["a", "b"]


def test_two_runs_under_one_token_are_reported() -> None:
    runs = [Run("a", 1, 1, 10), Run("a", 1, 1, 11)]
    verdict = judge(["a"], {"a": record("a", 1, 1)}, runs, Counter({"a": 1}))
    assert verdict.token_reused == ["a token 1 x2"]


def test_a_rerun_of_one_attempt_needs_a_logged_hand_back() -> None:
    runs = [Run("a", 1, 1, 10), Run("a", 1, 2, 11)]
    verdict = judge(["a"], {"a": record("a", 1, 2)}, runs, Counter())
    assert verdict.unexplained and verdict.handed == 1


def test_runs_the_record_does_not_account_for_are_reported() -> None:
    runs = [Run("a", 3, 3, 10)]
    verdict = judge(["a"], {"a": record("a", 2, 2)}, runs, Counter())
    assert verdict.beyond and verdict.unproven


def test_hand_backs_are_read_from_the_supervisors_log(tmp_path: Path) -> None:
    log = tmp_path / "worker0.log"
    log.write_text(
        "... job j1 handed back to the queue (shutdown timeout reached): ok\n"
        "... job j2 handed back to the queue (second signal): already finished\n"
    )
    assert hand_backs([log]) == Counter({"j1": 1})
