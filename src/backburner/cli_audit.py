"""`backburner audit APP [--json] [--limit N]`: what operators did to the jobs, from the
dashboard or the CLI, newest first (see backburner.audit)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

import click

from .cli import _bb, _fail_cleanly, table

# as cli.py's (imported from there, they would be half-defined: cli.py imports this module)
app_argument = click.argument("app", metavar="APP", envvar="BACKBURNER_APP")
HEADERS = ("at", "actor", "action", "target", "detail", "source")


@click.command()
@app_argument
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="Entries shown."
)
@click.option(
    "--before", type=int, metavar="SEQ", help="Only entries older than number SEQ (next page)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@_fail_cleanly
def audit(app: str | None, limit: int, before: int | None, as_json: bool) -> None:
    """List the audit log, newest first: who retried, cancelled, deleted, purged, paused
    or resumed what, when and from where (the dashboard's Audit page shows the same)."""
    entries = _bb(app).store.audit_log(limit=limit, before=before)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(asdict(entry)))
        return
    if not entries:
        click.echo("no audit entries" + ("" if before is None else f" before #{before}"))
        return
    rows = [
        (
            datetime.fromtimestamp(e.at).strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.target,
            e.detail or "-",
            e.source or "-",
        )
        for e in entries
    ]
    click.echo(table(HEADERS, rows))
    if len(entries) == limit:
        click.echo(f"(older: --before {entries[-1].seq})")
