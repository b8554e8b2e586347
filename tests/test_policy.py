"""The policy decides how attempts end; stores only apply it (tests/conformance)."""

from __future__ import annotations

import time

import pytest

from backburner import policy
from backburner.job import JobStatus

from .conformance.records import make


def test_a_failure_with_attempts_left_is_retried_within_its_backoff_step() -> None:
    record = make(attempts=3, max_attempts=5, retry_backoff=2.0, token=3)
    before = time.time()
    ending = policy.after_error(record, "E: boom")
    assert ending.status is JobStatus.QUEUED and ending.if_cancelled is JobStatus.CANCELLED
    assert ending.run_at is not None and before <= ending.run_at <= time.time() + 2.0 * 2**2
    assert (ending.job_id, ending.token, ending.error, ending.counted) == (
        record.id,
        3,
        "E: boom",
        True,
    )


def test_the_last_attempt_fails_for_good() -> None:
    ending = policy.after_error(make(attempts=4, max_attempts=4), "E: boom")
    assert ending.status is JobStatus.FAILED and ending.run_at is None


def test_retry_delay_replaces_the_backoff_and_drain_skips_it() -> None:
    record = make(attempts=1, max_attempts=3, retry_backoff=1000.0)
    asked = policy.after_error(record, "Retry: later", delay=30.0)
    assert asked.run_at == pytest.approx(time.time() + 30.0, abs=1.0)
    at_once = policy.after_error(record, "E", backoff=False)
    assert at_once.run_at is not None and at_once.run_at <= time.time()


def test_backoff_is_capped_before_it_is_computed() -> None:
    assert 0.0 <= policy.backoff_delay(10**9, 1.0) <= policy.MAX_BACKOFF
    assert 0.0 <= policy.backoff_delay(5000, 1e300) <= policy.MAX_BACKOFF


def test_a_lapsed_lease_counts_and_retries_at_once_only_if_still_lapsed() -> None:
    now = time.time()
    ending = policy.after_lapse(make(attempts=1, max_attempts=2, token=7), now)
    assert ending.status is JobStatus.QUEUED and ending.run_at == now
    assert ending.lapsed_before == now and ending.counted and ending.token == 7
    assert ending.error == policy.LEASE_LAPSED
    last = policy.after_lapse(make(attempts=2, max_attempts=2), now)
    assert last.status is JobStatus.FAILED


def test_a_hand_back_does_not_count_and_records_no_error() -> None:
    ending = policy.handed_back("j", 4)
    assert ending.status is JobStatus.QUEUED and not ending.counted and ending.error is None
    assert ending.run_at is None and ending.if_cancelled is JobStatus.CANCELLED


def test_an_error_no_retry_can_mend_fails_at_once() -> None:
    ending = policy.after_error(make(attempts=1, max_attempts=4), "E", retryable=False)
    assert ending.status is JobStatus.FAILED and ending.run_at is None


def test_a_job_whose_task_is_unknown_goes_back_uncounted_due_later_saying_why() -> None:
    before = time.time()
    ending = policy.unknown_task("j", 4, "mail.send", "host:1:abc#0")
    assert ending.status is JobStatus.QUEUED and ending.if_cancelled is JobStatus.CANCELLED
    assert not ending.counted and not ending.in_history
    assert ending.run_at is not None and ending.run_at >= before + policy.UNKNOWN_TASK_WAIT
    assert ending.error is not None and ending.error.startswith("UnknownTask: not run")
    assert "'mail.send'" in ending.error and "host:1:abc#0" in ending.error
