"""`backburner worker --log-format json`: one JSON object per line, job events with
their fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import workerapp
from .helpers import worker_processes


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/jobs.db"


@pytest.fixture
def lines(url: str, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    bb = workerapp.build(url)
    bb.tasks["noop"].delay()
    bb.tasks["bad_text"].delay()  # raises ValueError, no retries
    bb.tasks["chatty"].delay()
    with worker_processes(tmp_path) as start:
        worker = start(url, "--burst", "-p", "1", "--log-format", "json")
        assert worker.wait(30) == 0
        yield [json.loads(line) for line in worker.log().splitlines()]
    bb.close()


def test_every_line_is_a_json_object_with_time_level_logger_and_message(
    lines: list[dict[str, Any]],
) -> None:
    assert len(lines) >= 5
    for line in lines:
        assert {"time", "level", "logger", "message", "process"} <= line.keys()
        assert line["time"].endswith("Z")
    assert any(line["message"].startswith("worker ") for line in lines)


def test_a_job_event_carries_the_jobs_fields(lines: list[dict[str, Any]]) -> None:
    [ran] = [line for line in lines if line.get("task") == "noop"]
    assert ran["outcome"] == "succeeded" and ran["queue"] == "default"
    assert ran["attempt"] == 1 and ran["duration"] >= 0 and len(ran["job_id"]) == 32
    failed = [line for line in lines if line.get("task") == "bad_text"]
    assert [line["outcome"] for line in failed] == ["raised", "failed"]
    assert {line["error_type"] for line in failed} == {"ValueError"}
    assert failed[1]["level"] == "WARNING"


def test_a_jobs_own_output_is_tagged_with_its_id(lines: list[dict[str, Any]]) -> None:
    [printed] = [line for line in lines if line["message"] == "hello from a job"]
    [ran] = [line for line in lines if line.get("task") == "chatty"]
    assert printed["job_id"] == ran["job_id"] and printed["logger"] == "backburner.job"
