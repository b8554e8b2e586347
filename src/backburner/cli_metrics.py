"""`backburner metrics`: the store gauges for Prometheus, from a process of their own."""

from __future__ import annotations

import threading

import click

from .cli import _bb, _fail_cleanly


@click.command()
@click.argument("app", metavar="APP", envvar="BACKBURNER_APP")
@click.option(
    "--host",
    default="0.0.0.0",
    show_default=True,
    help="Address to serve on (127.0.0.1: this machine only).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9192,
    show_default=True,
    help="Port to serve on (not $BACKBURNER_METRICS_PORT: that one is the workers').",
)
@_fail_cleanly
def metrics(app: str | None, host: str, port: int) -> None:
    """Serve the store's gauges to Prometheus at http://HOST:PORT/metrics: jobs per queue
    and status, the age of the oldest waiting job, live workers. One per deployment; the
    workers' job counters are served by `backburner worker --metrics-port`."""
    from . import metrics as exposition

    bb = _bb(app)
    server = exposition.serve(exposition.store_registry(bb), host, port)
    click.echo(f"serving store metrics at http://{host}:{server.port}/metrics (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
