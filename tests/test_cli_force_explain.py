"""`backburner cancel --force` and `backburner explain` against a real SQLite store."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backburner import Backburner, Job, JobStatus
from backburner.cli import main


@pytest.fixture
def bb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backburner]:
    app = Backburner(f"sqlite:///{tmp_path}/jobs.db", cancel_grace=7)

    @app.task(name="ok")
    def ok() -> None:
        return None

    monkeypatch.setitem(sys.modules, "forceapp", types.SimpleNamespace(bb=app))
    monkeypatch.delenv("BACKBURNER_CANCEL_GRACE", raising=False)
    yield app
    app.close()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def running(bb: Backburner) -> Job:
    job = bb.tasks["ok"].delay()
    [claimed] = bb.store.claim(None, "host:1:abc#0", 1, 30.0)
    assert claimed.id == job.id
    return job


def test_cancel_force_asks_a_running_job_to_stop_within_the_grace(bb: Backburner) -> None:
    job = running(bb)
    result = invoke("cancel", "forceapp:bb", "--force", "--grace", "3", job.id)
    assert result.exit_code == 0, result.output
    assert f"{job.id}: running; cancelled by force: its worker stops it if it has not " in (
        result.output
    )
    assert "returned 3s after telling it" in result.output
    record = job.refresh().record
    assert record.cancel_requested and record.cancel_grace == 3.0


def test_the_grace_defaults_to_the_app_setting_then_to_the_environment(bb: Backburner) -> None:
    first, second = running(bb), running(bb)
    assert invoke("cancel", "forceapp:bb", "--force", first.id).exit_code == 0
    assert first.refresh().record.cancel_grace == 7.0
    env = {"BACKBURNER_CANCEL_GRACE": "2.5"}
    assert invoke("cancel", "forceapp:bb", "--force", second.id, env=env).exit_code == 0
    assert second.refresh().record.cancel_grace == 2.5


def test_cancel_force_of_a_queued_job_cancels_it(bb: Backburner) -> None:
    job = bb.tasks["ok"].delay()
    result = invoke("cancel", "forceapp:bb", "--force", job.id)
    assert result.exit_code == 0 and f"{job.id}: cancelled" in result.output
    assert job.refresh().status is JobStatus.CANCELLED


def test_grace_without_force_and_force_with_a_status_filter_are_refused(bb: Backburner) -> None:
    job = running(bb)
    result = invoke("cancel", "forceapp:bb", "--grace", "3", job.id)
    assert result.exit_code == 2 and "--grace applies to a forced cancel" in result.output
    assert not job.refresh().record.cancel_requested, "nothing was cancelled"
    result = invoke("cancel", "forceapp:bb", "--force", "--status", "queued")
    assert result.exit_code == 2 and "--force stops running jobs" in result.output
    # from the environment, a grace without --force is a default left unused
    result = invoke("cancel", "forceapp:bb", job.id, env={"BACKBURNER_CANCEL_GRACE": "3"})
    assert result.exit_code == 0 and job.refresh().record.cancel_grace is None


def test_a_bad_grace_in_the_environment_only_matters_with_force(bb: Backburner) -> None:
    forced, pending = running(bb), bb.tasks["ok"].delay()
    env = {"BACKBURNER_CANCEL_GRACE": "soon"}
    result = invoke("cancel", "forceapp:bb", pending.id, env=env)
    assert result.exit_code == 0, result.output
    assert pending.refresh().status is JobStatus.CANCELLED
    result = invoke("cancel", "forceapp:bb", "--force", forced.id, env=env)
    assert result.exit_code == 2 and "BACKBURNER_CANCEL_GRACE" in result.output
    assert "'soon'" in result.output
    assert not forced.refresh().record.cancel_requested, "nothing was cancelled"


def test_job_cancel_checks_its_grace(bb: Backburner) -> None:
    job = running(bb)
    with pytest.raises(ValueError, match="pass force=True"):
        job.cancel(grace=3)
    with pytest.raises(ValueError, match="grace must be a finite number"):
        job.cancel(force=True, grace=float("nan"))
    assert not job.refresh().record.cancel_requested


def test_explain_prints_the_sentence_and_json_gives_the_facts(bb: Backburner) -> None:
    job = bb.tasks["ok"].schedule(delay=3600)
    result = invoke("explain", "forceapp:bb", job.id)
    assert result.exit_code == 0 and result.output.startswith("Scheduled for ")
    data = json.loads(invoke("explain", "forceapp:bb", job.id, "--json").output)
    assert data["reason"] == "scheduled" and data["job_id"] == job.id
    assert data["run_at"] == job.record.run_at and data["status"] == "scheduled"
    assert data["sentence"].startswith("Scheduled for ")


def test_explain_of_an_unknown_id_exits_1(bb: Backburner) -> None:
    result = invoke("explain", "forceapp:bb", "nope")
    assert result.exit_code == 1 and result.output.startswith("No job 'nope' in this store")
    data = json.loads(invoke("explain", "forceapp:bb", "nope", "--json").output)
    assert data == {
        "reason": "not_found",
        "sentence": data["sentence"],
        "job_id": "nope",
        "status": None,
    }
