"""The audit log from the CLI: retry, cancel (and --force), purge, pause and resume each
record who did what from where, and `backburner audit` lists the entries."""

from __future__ import annotations

import getpass
import json
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from backburner import Backburner, audit
from backburner.cli import main
from backburner.stores import AuditEntry
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

    monkeypatch.setitem(sys.modules, "auditapp", types.SimpleNamespace(bb=app))
    yield app
    app.close()


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def entries(bb: Backburner) -> list[tuple[str, str, str]]:
    """(action, target, detail) of every entry, oldest first."""
    return [(e.action, e.target, e.detail) for e in reversed(bb.store.audit_log(limit=1000))]


def test_cli_identity_names_the_os_user_and_host() -> None:
    actor, source = audit.cli_identity()
    assert actor == f"cli:{getpass.getuser()}" and source == socket.gethostname()


def test_record_stores_an_entry_with_a_time(bb: Backburner) -> None:
    audit.record(bb.store, "pause", "mail", actor="ada", source="10.0.0.7", detail="x")
    [entry] = bb.store.audit_log()
    assert (entry.actor, entry.action, entry.target, entry.detail, entry.source) == (
        "ada",
        "pause",
        "mail",
        "x",
        "10.0.0.7",
    )
    assert entry.at > 0 and entry.seq > 0


def test_every_changing_command_records_an_entry(bb: Backburner) -> None:
    failed = [bb.tasks["bad"].delay() for _ in range(3)]
    drain(bb)
    run("retry", "auditapp:bb", failed[0].id, "nope", code=1)
    run("retry", "auditapp:bb", "--all-failed")
    drain(bb)
    pending = bb.tasks["ok"].delay(5)
    run("cancel", "auditapp:bb", pending.id)
    run("cancel", "auditapp:bb", "--force", pending.id)
    bb.tasks["ok"].options(queue="mail").delay(7)
    run("cancel", "auditapp:bb", "--status", "queued", "--queue", "mail")
    run("purge", "auditapp:bb", "--status", "failed", "--older-than", "0s")
    run("purge", "auditapp:bb", "--dry-run")  # changes nothing: not recorded
    run("pause", "auditapp:bb", "mail")
    run("resume", "auditapp:bb", "mail")
    assert entries(bb) == [
        ("retry", failed[0].id, ""),
        ("retry", "nope", "not retried: no such job"),
        ("retry_matching", "status=failed", "2 jobs"),
        ("cancel", pending.id, "cancelled"),
        ("cancel_force", pending.id, "not cancelled: cancelled"),
        ("cancel", "status=queued queue=mail", "1 jobs"),
        ("purge", "status=failed older_than=0s", "3 jobs"),
        ("pause", "mail", ""),
        ("resume", "mail", ""),
    ]
    [newest] = bb.store.audit_log(limit=1)
    assert newest.actor.startswith("cli:") and newest.source == socket.gethostname()


def test_audit_lists_newest_first_as_text_and_json(bb: Backburner) -> None:
    assert "no audit entries" in run("audit", "auditapp:bb")
    for i in range(3):
        bb.store.record_audit(AuditEntry(1_800_000_000.0 + i, "ada", "pause", f"q{i}"))
    out = run("audit", "auditapp:bb")
    lines = out.splitlines()
    assert lines[0].split() == ["AT", "ACTOR", "ACTION", "TARGET", "DETAIL", "SOURCE"]
    assert [line.split()[4] for line in lines[1:]] == ["q2", "q1", "q0"]
    data = [json.loads(line) for line in run("audit", "auditapp:bb", "--json").splitlines()]
    assert [d["target"] for d in data] == ["q2", "q1", "q0"]
    assert set(data[0]) == {"at", "actor", "action", "target", "detail", "source", "seq"}
    page = run("audit", "auditapp:bb", "--limit", "2")
    assert "q0" not in page and f"--before {data[1]['seq']}" in page
    older = run("audit", "auditapp:bb", "--before", str(data[1]["seq"]), "--json")
    assert [json.loads(line)["target"] for line in older.splitlines()] == ["q0"]


def test_a_control_character_in_an_entry_is_shown_escaped(bb: Backburner) -> None:
    bb.store.record_audit(AuditEntry(1_800_000_000.0, "ada", "retry", "job\x1b[31m"))
    assert "\x1b" not in run("audit", "auditapp:bb")
