"""Every default comes from backburner.defaults, wherever a user meets it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from backburner import Backburner, JobRecord, defaults
from backburner.app import Settings
from backburner.cli import main
from backburner.stores import open_store
from backburner.worker.supervisor import WorkerConfig


def test_a_backburner_and_its_tasks_follow_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKBURNER_URL", raising=False)
    bb = Backburner()

    @bb.task
    def noop() -> None: ...

    assert bb.url == defaults.URL
    assert (
        bb.settings
        == Settings()
        == Settings(
            queue=defaults.QUEUE,
            retries=defaults.RETRIES,
            retry_backoff=defaults.RETRY_BACKOFF,
            result_ttl=defaults.RESULT_TTL,
            lease=defaults.LEASE,
        )
    )
    assert (noop.queue, noop.retries, noop.retry_backoff, noop.opts.priority) == (
        defaults.QUEUE,
        defaults.RETRIES,
        defaults.RETRY_BACKOFF,
        defaults.PRIORITY,
    )


def test_a_job_made_by_a_default_task_equals_a_default_record() -> None:
    bb = Backburner("memory://")

    @bb.task
    def noop() -> None: ...

    made = noop.delay().record
    default = JobRecord(made.id, made.task)
    assert (made.queue, made.priority, made.max_attempts, made.retry_backoff) == (
        default.queue,
        default.priority,
        default.max_attempts,
        default.retry_backoff,
    )
    assert default.max_attempts == defaults.RETRIES + 1


def test_a_fresh_record_is_the_record_init_makes_and_refuses_what_init_refuses() -> None:
    given = {"id": "j1", "task": "t", "queue": "q", "run_at": 5.0, "depends_on": ("a",)}
    fresh, made = JobRecord.fresh(**given), JobRecord(**given)  # type: ignore[arg-type]
    assert fresh == made and hash(fresh) == hash(made) and vars(fresh) == vars(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fresh.queue = "other"  # type: ignore[misc]
    for wrong in ({**given, "queu": "q"}, {"task": "t"}, {"id": "j1"}):
        with pytest.raises(TypeError):
            JobRecord(**wrong)
        with pytest.raises(TypeError):
            JobRecord.fresh(**wrong)


@pytest.mark.parametrize("scheme", ["memory", "sqlite"])
def test_stores_keep_finished_jobs_for_the_default_result_ttl(scheme: str, tmp_path: Path) -> None:
    store = open_store("memory://" if scheme == "memory" else f"sqlite:///{tmp_path}/jobs.db")
    assert store.result_ttl == defaults.RESULT_TTL == Backburner("memory://").store.result_ttl
    store.close()


def test_the_worker_command_shows_the_default_pool() -> None:
    shown = CliRunner().invoke(main, ["worker", "--help"]).output
    assert f"default: {defaults.PROCESSES};" in shown
    assert f"default: {defaults.SHUTDOWN_TIMEOUT}" in shown
    assert f"the app's, {defaults.LEASE:g}" in shown


def test_worker_config_defaults_come_from_the_defaults_module() -> None:
    config = {f.name: f.default for f in dataclasses.fields(WorkerConfig)}
    assert (
        config["processes"],
        config["threads"],
        config["shutdown_timeout"],
        config["lease"],
    ) == (defaults.PROCESSES, defaults.THREADS, defaults.SHUTDOWN_TIMEOUT, defaults.LEASE)
