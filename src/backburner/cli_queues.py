"""`backburner pause` and `resume`: stop and restart the claims of a queue's jobs."""

from __future__ import annotations

import click

from .audit import cli_record
from .cli import _bb, _fail_cleanly

# as cli.py's (imported from there, it would be half-defined: cli.py imports this module)
app_argument = click.argument("app", metavar="APP", envvar="BACKBURNER_APP")


@click.command()
@app_argument
@click.argument("queue")
@_fail_cleanly
def pause(app: str | None, queue: str) -> None:
    """Pause QUEUE: it keeps accepting jobs, workers claim none until `resume` (running
    jobs finish). Kept in the store: it holds for every worker, across restarts."""
    bb = _bb(app)
    bb.pause(queue)
    cli_record(bb.store, "pause", queue)
    click.echo(f"queue {queue!r} paused; `backburner resume APP {queue}` to resume")


@click.command()
@app_argument
@click.argument("queue")
@_fail_cleanly
def resume(app: str | None, queue: str) -> None:
    """Resume QUEUE: workers claim its jobs again, starting now."""
    bb = _bb(app)
    bb.resume(queue)
    cli_record(bb.store, "resume", queue)
    click.echo(f"queue {queue!r} resumed")
