"""The audit log: who did what to the jobs, when and from where (issue 19).

Every operator action, from the dashboard or the CLI (retry, cancel, purge, pause,
resume, ...), is recorded in the store with `record`, so `backburner audit APP` and the
dashboard's Audit page show the same history whichever way it was done. Entries are kept
with the jobs (see `Store.record_audit`); nothing here reads the jobs.
"""

from __future__ import annotations

import getpass
import os
import socket
import time

from .stores import AuditEntry, Store


def record(
    store: Store, action: str, target: str, *, actor: str, source: str, detail: str = ""
) -> None:
    """Record that `actor` (from `source`) did `action` to `target`, with the outcome in
    `detail` ("37 jobs", "not cancelled: finished"). Call it after the action, so the
    entry says what happened."""
    store.record_audit(AuditEntry(time.time(), actor, action, target, detail, source))


def cli_identity() -> tuple[str, str]:
    """("cli:<os user>", host name): the actor and source of a CLI command's entries. The
    user is the login name the environment gives ($LOGNAME, $USER, ...), else the uid."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        user = str(os.getuid())
    return f"cli:{user}", socket.gethostname()


def filter_text(**fields: object) -> str:
    """The target of an action on every job matching a filter: "status=failed task=x",
    the fields given (None left out), in the order given."""
    return " ".join(f"{name}={value}" for name, value in fields.items() if value is not None)


def cli_record(store: Store, action: str, target: str, detail: str = "") -> None:
    """`record` for a CLI command, as `cli_identity()` names it."""
    actor, source = cli_identity()
    record(store, action, target, actor=actor, source=source, detail=detail)
