"""`backburner logs APP JOB [--attempt N] [--follow] [--json]`: what a job printed and
logged while it ran, kept in the store per attempt (see `Job.logs`)."""

from __future__ import annotations

import json
import time

import click

from .cli import _bb, _fail_cleanly
from .job import FINISHED
from .logs import LogLine
from .terminal import printable

# as cli.py's (imported from there, they would be half-defined: cli.py imports this module)
app_argument = click.argument("app", metavar="APP", envvar="BACKBURNER_APP")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
FOLLOW_POLL = 0.25  # seconds between reads of a followed job (workers write every 0.25 s)


@click.command()
@app_argument
@click.argument("job_id", metavar="JOB")
@click.option("--attempt", type=click.IntRange(1), help="Only this attempt's lines (1, 2, ...).")
@click.option(
    "-f", "--follow", is_flag=True, help="Print new lines as they are stored, until the job ends."
)
@json_option
@_fail_cleanly
def logs(app: str | None, job_id: str, attempt: int | None, follow: bool, as_json: bool) -> None:
    """Print what job JOB wrote (print, stderr, logging) while it ran, oldest first:
    "time #attempt stream message", control characters shown as escapes. With --json,
    one JSON object a line (seq, at, attempt, stream, level, message)."""
    store = _bb(app).store
    after = 0
    while True:
        record = store.get(job_id, light=True)  # before the lines: a job that ended has
        if record is None:  # stored all of them, so the read below sees the last ones
            raise click.ClickException(
                f"no job {job_id!r} in this store; check the id, and that APP names the "
                "store it was enqueued in (a purged job's log is gone with it)"
            )
        lines = store.logs(job_id, attempt=attempt, after=after)
        for line in lines:
            click.echo(_shown(line, as_json))
        if lines:
            after = lines[-1].seq
        if not follow or record.status in FINISHED:
            return
        time.sleep(FOLLOW_POLL)


def _shown(line: LogLine, as_json: bool) -> str:
    if as_json:
        return json.dumps(line.to_json())
    return printable(line.text())
