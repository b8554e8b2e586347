"""The `backburner` command: run workers and operate on the store.

Every command takes APP (module:attr) first. `command_group(resolve)` builds the same
commands without APP for hosts that already know the Backburner (`flask backburner`).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click

from . import __version__, cli_periodic, defaults, limits
from .app import Backburner
from .cli_ops import (
    call_text,
)
from .errors import BackburnerError
from .job import JobRecord, JobStatus
from .loader import AppNotFound, load_backburner
from .terminal import printable
from .worker.output import setup_logging
from .worker.supervisor import WorkerConfig

Resolver = Callable[[], Backburner]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_STATUSES = [s.value for s in JobStatus]


def parse_duration(text: str) -> float:
    """ "90", "45s", "30m", "12h", "7d", "2w" -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 45s, 30m, 12h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _bb(app: str | None) -> Backburner:
    if app is None:
        resolve: Resolver = click.get_current_context().meta["backburner.resolve"]
        return resolve()
    try:
        return load_backburner(app)
    except AppNotFound as exc:
        raise click.ClickException(str(exc)) from None


def _fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Store and argument errors end the command with one line, not a traceback."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (BackburnerError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None

    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__)
def main() -> None:
    """backburner: background jobs for Flask and any Python web app.

    APP is module:attr (or $BACKBURNER_APP), imported with the current folder first on
    sys.path, as `flask --app` does: a module there named like an installed one (or like
    one of your app's imports) is the one imported, so run the command from your
    project's folder, not from a folder others can write to."""


app_argument = click.argument("app", metavar="APP", envvar="BACKBURNER_APP")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@main.command()
@app_argument
@click.option(
    "-p",
    "--processes",
    type=click.IntRange(1),
    default=defaults.PROCESSES,
    show_default=True,
    envvar="BACKBURNER_PROCESSES",
    show_envvar=True,
    help="Worker processes.",
)
@click.option(
    "-t",
    "--threads",
    type=click.IntRange(1),
    default=defaults.THREADS,
    show_default=True,
    envvar="BACKBURNER_THREADS",
    show_envvar=True,
    help="Threads per process.",
)
@click.option(
    "-q",
    "--queues",
    default="",
    envvar="BACKBURNER_QUEUES",
    show_envvar=True,
    help="Comma-separated queues to serve (default: all).",
)
@click.option(
    "--burst",
    is_flag=True,
    envvar="BACKBURNER_BURST",
    show_envvar=True,
    help="Exit once no job is due.",
)
@click.option(
    "--max-jobs-per-child",
    type=click.IntRange(1),
    default=None,
    envvar="BACKBURNER_MAX_JOBS_PER_CHILD",
    show_envvar=True,
    help="Replace a child process after this many jobs (memory-leak guard).",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(0),
    default=defaults.SHUTDOWN_TIMEOUT,
    show_default=True,
    envvar="BACKBURNER_SHUTDOWN_TIMEOUT",
    show_envvar=True,
    help="Seconds running jobs get to finish on SIGTERM before being handed back.",
)
@click.option(
    "--lease",
    type=click.FloatRange(0.5),
    default=None,
    envvar="BACKBURNER_LEASE",
    show_envvar=True,
    help=f"Lease seconds; renewed every lease/3 [default: the app's, {defaults.LEASE:g}].",
)
@click.option(
    "--reload",
    is_flag=True,
    envvar="BACKBURNER_RELOAD",
    show_envvar=True,
    help="Restart the children on freshly imported code when a *.py file under the "
    "current folder changes (development). SIGHUP does it at any time.",
)
@click.option(
    "--periodic/--no-periodic",
    default=True,
    envvar="BACKBURNER_PERIODIC",
    show_envvar=True,
    help="Store the jobs of the app's schedules (@bb.periodic) as their ticks come; "
    "any number of workers may, each tick still makes one job.  [default: periodic]",
)
@click.option(
    "--log-level",
    default=defaults.LOG_LEVEL,
    show_default=True,
    envvar="BACKBURNER_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    envvar="BACKBURNER_LOG_FORMAT",
    show_envvar=True,
    type=click.Choice(["text", "json"]),
    help="json: one JSON object per line, with the job's fields on job events.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    envvar="BACKBURNER_METRICS_PORT",
    show_envvar=True,
    help="Serve Prometheus metrics of the whole worker at http://HOST:PORT/metrics "
    "(needs backburner[metrics]).",
)
@click.option(
    "--metrics-host",
    default="0.0.0.0",
    show_default=True,
    envvar="BACKBURNER_METRICS_HOST",
    show_envvar=True,
    help="Address the metrics are served on (127.0.0.1: this machine only).",
)
@click.option(
    "--store-metrics",
    is_flag=True,
    envvar="BACKBURNER_STORE_METRICS",
    show_envvar=True,
    help="Serve the store gauges (as `backburner metrics` does) on the metrics port too.",
)
@_fail_cleanly
def worker(
    app: str | None,
    queues: str,
    lease: float | None,
    log_level: str,
    log_format: str,
    **options: Any,
) -> None:
    """Run a pool of worker processes until SIGTERM / Ctrl-C (or idle, with --burst)."""
    bb = _bb(app)
    names = tuple(q.strip() for q in queues.split(",") if q.strip()) or None
    config = WorkerConfig(queues=names, lease=lease or bb.settings.lease, **options)
    from .worker.reloader import fresh_backburner
    from .worker.supervisor import run

    # on reload, import APP afresh; under `flask backburner` there is no APP to import
    loader = functools.partial(fresh_backburner, app) if app is not None else None
    setup_logging(log_level, log_format)  # the command owns this process's log, not the app
    raise SystemExit(run(bb, config, loader))


@main.command()
@app_argument
@json_option
@_fail_cleanly
def status(app: str | None, as_json: bool) -> None:
    """Jobs per queue and status, and the live workers."""
    bb = _bb(app)
    counts = bb.store.counts()
    workers = bb.store.list_workers(alive_since=time.time() - 3 * bb.settings.lease)
    paused = bb.paused()
    if as_json:
        click.echo(
            json.dumps(
                {
                    # every status, zeros too: scripts read a count without a default
                    "queues": {
                        q: {s.value: c.get(s, 0) for s in JobStatus} for q, c in counts.items()
                    },
                    "workers": [w.__dict__ for w in workers],
                    "paused": sorted(paused),
                },
                indent=2,
                default=list,
            )
        )
        return
    rows = [
        [q, *(str(c.get(JobStatus(s), 0)) for s in _STATUSES)] for q, c in sorted(counts.items())
    ]
    click.echo(table(["queue", *_STATUSES], rows) if rows else "no jobs")
    if paused:
        click.echo(f"paused queues (workers claim none of their jobs): {', '.join(sorted(paused))}")
    click.echo()
    wrows = [
        [w.id, w.host, str(w.pid), _when(w.started_at), _when(w.heartbeat_at), str(len(w.jobs))]
        for w in workers
    ]
    click.echo(
        table(["worker", "host", "pid", "started", "heartbeat", "jobs"], wrows)
        if wrows
        else "no live workers"
    )


@main.command()
@app_argument
@click.option("--status", "status_", type=click.Choice(_STATUSES), help="Only this status.")
@click.option("--queue", help="Only this queue.")
@click.option("--task", help="Only this task name.")
@click.option("--limit", type=click.IntRange(1, limits.MAX_LIST), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0, limits.MAX_OFFSET), default=0, show_default=True)
@json_option
@_fail_cleanly
def jobs(
    app: str | None,
    status_: str | None,
    queue: str | None,
    task: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List jobs, newest first."""
    records = _bb(app).store.list_jobs(
        status=JobStatus(status_) if status_ else None,
        queue=queue,
        task=task,
        limit=limit,
        offset=offset,
    )
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    rows = [
        [
            r.id,
            r.task,
            r.queue,
            r.status.value,
            f"{r.attempts}/{r.max_attempts}",
            _when(r.created_at),
            _progress(r),
        ]
        for r in records
    ]
    click.echo(
        table(["id", "task", "queue", "status", "attempts", "created", "progress"], rows)
        if rows
        else "no jobs"
    )


@main.command()
@app_argument
@click.argument("job_id")
@json_option
@_fail_cleanly
def show(app: str | None, job_id: str, as_json: bool) -> None:
    """Everything about one job: attempts, errors with tracebacks, progress, result."""
    store = _bb(app).store
    record = store.get(job_id)
    if record is None:
        raise click.ClickException(f"no job {job_id!r} in this store")
    links = {"dependencies": store.links(record.depends_on), "dependents": store.dependents(job_id)}
    if as_json:
        data = record.to_dict(full=True)
        data.update((name, [x.to_json() for x in found]) for name, found in links.items())
        click.echo(json.dumps(data, indent=2))
        return
    fields = [
        ("id", record.id),
        ("task", record.task),
        ("queue", record.queue),
        *(
            [("schedule", f"{record.schedule} (tick {_when(record.scheduled_for)})")]
            * bool(record.schedule)
        ),
        ("status", record.status.value),
        ("priority", str(record.priority)),
        ("attempts", f"{record.attempts} of {record.max_attempts}"),
        ("created", _when(record.created_at)),
        ("due", _when(record.run_at)),
        ("started", _when(record.started_at)),
        ("finished", _when(record.finished_at)),
        ("worker", record.worker_id or "-"),
        ("progress", _progress(record)),
        ("arguments", call_text(record.payload)),
        ("result", record.result or "-"),
    ]
    if record.error and not record.failures:  # why it did not run (not a failed attempt)
        fields.append(("reason", record.error.splitlines()[0]))
    for name, value in fields:
        click.echo(f"{name:>10}  {printable(value)}")
    for name, found in links.items():
        if found:
            click.echo(f"\n{name}:")
            for link in found:
                status = "purged" if link.status is None else link.status.value
                click.echo(f"  {link.job_id}  {status:<9}  {printable(link.task or '-')}")
    for failure in record.failures:
        click.echo(f"\n--- attempt {failure.attempt} failed at {_when(failure.at)} ---")
        click.echo(printable(failure.error.rstrip()))
        if failure.retried_at is not None:
            click.echo(f"--- retried by hand at {_when(failure.retried_at)}: attempts reset ---")


@main.command()
@app_argument
@json_option
@_fail_cleanly
def periodic(app: str | None, as_json: bool) -> None:
    """The app's schedules (bb.periodic): next run, last tick, its job and status."""
    found = cli_periodic.schedule_rows(_bb(app))
    if as_json:
        click.echo(json.dumps(found, indent=2))
    elif not found:
        click.echo("no schedules (declare them with @bb.periodic)")
    else:
        click.echo(table(cli_periodic.HEADERS, cli_periodic.text_rows(found)))


@main.command()
@app_argument
@click.argument("job_id")
@json_option
@_fail_cleanly
def explain(app: str | None, job_id: str, as_json: bool) -> None:
    """Say why a job is or is not running now (--json: the reason code and its facts too).

    Exits 1 when JOB_ID names no job in this store."""
    from .explain import explain as explain_job

    found = explain_job(_bb(app), job_id)
    click.echo(json.dumps(found.to_json(), indent=2) if as_json else printable(found.sentence))
    if found.reason == "not_found":
        raise SystemExit(1)


@main.command()
@app_argument
@_fail_cleanly
def migrate(app: str | None) -> None:
    """Create or upgrade the store's schema (PostgreSQL: run before deploying workers
    when automatic migration is off with ?migrate=false)."""
    version = _bb(app).store.migrate()
    click.echo(f"schema at version {version}" if version else "this store has no schema")


def command_group(name: str, resolve: Resolver, **group_options: Any) -> click.Group:
    """The same commands without APP, for a host that knows its Backburner (Flask)."""

    def remember(ctx: click.Context) -> None:
        ctx.meta["backburner.resolve"] = resolve

    group = click.Group(name, callback=click.pass_context(remember), **group_options)
    for command in main.commands.values():
        if command.name in ("demo",):
            continue
        clone = copy.copy(command)
        clone.params = [p for p in command.params if p.name != "app"]
        clone.callback = _without_app(command.callback)
        group.add_command(clone)
    return group


def _without_app(callback: Callable[..., Any] | None) -> Callable[..., Any]:
    assert callback is not None

    def run(**kwargs: Any) -> Any:
        return callback(app=None, **kwargs)

    run.__name__, run.__doc__ = callback.__name__, callback.__doc__
    return run


# -- output ---------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table, its cells' control characters shown as escapes."""
    rows = [[printable(str(c)) for c in row] for row in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _progress(r: JobRecord) -> str:
    p = r.progress
    if not p:
        return "-"
    done = f"{p.get('done')}/{p.get('total')}" if p.get("total") is not None else f"{p.get('done')}"
    return f"{done} {p.get('message') or ''}".strip()


from .cli_audit import audit as _audit  # noqa: E402
from .cli_dashboard import dashboard as _dashboard  # noqa: E402
from .cli_logs import logs as _logs  # noqa: E402
from .cli_manage import cancel as _cancel  # noqa: E402
from .cli_manage import purge as _purge  # noqa: E402
from .cli_manage import retry as _retry  # noqa: E402
from .cli_metrics import metrics as _metrics  # noqa: E402
from .cli_queues import pause as _pause  # noqa: E402
from .cli_queues import resume as _resume  # noqa: E402
from .demo import demo as _demo  # noqa: E402

main.add_command(_retry)
main.add_command(_cancel)
main.add_command(_purge)
main.add_command(_metrics)
main.add_command(_demo)
main.add_command(_logs)
main.add_command(_pause)
main.add_command(_resume)
main.add_command(_audit)
main.add_command(_dashboard)
