"""`backburner demo`: the seed article's app and a worker pool, in one command.

Where the app comes from: the seed app is part of the package (`backburner._seed`), so the
demo works from any directory and from any install, editable or not; examples/seed/
serves that same app under uWSGI and gunicorn. The store is an SQLite file, by default
./backburner-demo.db in the current directory (`--db`); its absolute path is printed.

Processes: this process serves HTTP (Werkzeug's server on a small thread pool) and forks
one child that runs the worker supervisor, which forks `--processes` worker children.
The supervisor gets its own process group, so a terminal's Ctrl-C reaches only this
process, which then sends the supervisor exactly one SIGTERM whatever stopped the demo
(Ctrl-C, SIGTERM or SIGHUP). The supervisor lets running jobs finish for
`--shutdown-timeout` seconds and hands the rest back to the queue (they run again on the
next start); a second Ctrl-C hands them back at once. On Linux the supervisor is also
told to stop if this process dies without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .app import Backburner

WEB_THREADS = 16  # each open status page holds one for its event stream (up to 25 s)
KILL_MARGIN = 10.0  # seconds past the shutdown timeout before the worker group is killed
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="Port to serve on (0: any free port).",
)
@click.option(
    "-p",
    "--processes",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Worker processes.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, writable=True),
    default="backburner-demo.db",
    show_default=True,
    help="SQLite file of the demo's jobs.",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(0),
    default=3.0,
    show_default=True,
    help="Seconds running jobs get to finish on Ctrl-C before being handed back.",
)
def demo(host: str, port: int, processes: int, db: str, shutdown_timeout: float) -> None:
    """Serve the seed article's app with a worker pool on an SQLite file: open the URL."""
    try:
        from ._seed import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"backburner demo needs Flask: pip install 'backburner[flask]' ({exc})"
        ) from None
    url = f"sqlite:///{os.path.abspath(db)}"
    app = create_app({"BACKBURNER_URL": url})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # status pages poll twice a second
    server = _make_server(host, port, app)
    bb = app.extensions["backburner"].bb
    # fork before any thread starts: a child of a threaded process can inherit held locks
    worker = _start_worker(bb, server.socket, processes, shutdown_timeout)
    web = threading.Thread(target=server.serve_forever, name="backburner-demo-web", daemon=True)
    web.start()
    base = f"http://{_display_host(host)}:{server.server_port}"
    click.echo(
        f"backburner demo: the seed article's app with {processes} worker process(es)\n"
        f"  store: {url}\n"
        f"  open:  {base}/\n"
        f"  try:   curl {base}/3   then open its status_url\n"
        "Ctrl-C stops the web server and the workers."
    )
    code = _serve_until_stopped(worker, shutdown_timeout)
    server.shutdown()
    server.server_close()
    click.echo("backburner demo stopped.")
    sys.exit(code)


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _make_server(host: str, port: int, app: Any) -> Any:
    """Werkzeug's server with requests on a fixed pool of threads.

    Werkzeug's threaded server starts a thread per request, and the SQLite store keeps
    one connection per thread that ever used it: a status page polling twice a second
    would open a connection (two file descriptors) per poll. HTTP/1.0 closes each
    connection after its response, so an idle keep-alive cannot pin a pool thread.
    """
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.0"

    class PooledServer(BaseWSGIServer):
        multithread = True

        def __init__(self) -> None:
            self.pool = ThreadPoolExecutor(WEB_THREADS, thread_name_prefix="backburner-web")
            super().__init__(host, port, app, Handler)  # exits with a message if the port is busy

        def process_request(self, request: Any, client_address: Any) -> None:
            self.pool.submit(self._serve, request, client_address)

        def _serve(self, request: Any, client_address: Any) -> None:
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

        def server_close(self) -> None:
            super().server_close()
            self.pool.shutdown(wait=False, cancel_futures=True)

    return PooledServer()


def _start_worker(
    bb: Backburner, listener: socket.socket, processes: int, timeout: float
) -> BaseProcess:
    parent = os.getpid()
    worker = mp.get_context("fork").Process(
        target=_worker_main,
        args=(bb, listener, parent, processes, timeout),
        name="backburner-demo-worker",
    )
    worker.start()
    # also set in the child: whichever runs first, Ctrl-C never reaches the supervisor
    with contextlib.suppress(OSError):
        os.setpgid(worker.pid, worker.pid)  # type: ignore[arg-type]
    return worker


def _worker_main(
    bb: Backburner, listener: socket.socket, parent: int, processes: int, timeout: float
) -> None:
    """The forked supervisor: its own process group, no web socket, gone with its parent."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    listener.close()  # the web server's socket belongs to the parent
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return
    from .worker.output import setup_logging

    setup_logging("INFO")  # the demo is a command: its worker logs as `backburner worker` does
    sys.exit(bb.run_worker(processes=processes, shutdown_timeout=timeout))


def _serve_until_stopped(worker: BaseProcess, timeout: float) -> int:
    """Wait for a stop signal, stop the worker, and return the exit code of the demo."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    old_fd = signal.set_wakeup_fd(wake_w)
    old = {s: signal.signal(s, lambda *_: None) for s in _STOP_SIGNALS}
    try:
        if wake_r not in wait([worker.sentinel, wake_r]):
            click.echo("backburner demo: the worker stopped unexpectedly; stopping", err=True)
            return 1
        os.read(wake_r, 64)
        click.echo("\nbackburner demo: stopping (Ctrl-C again hands running jobs back now)")
        _stop_worker(worker, wake_r, timeout + KILL_MARGIN)
        return 0
    finally:
        signal.set_wakeup_fd(old_fd)
        for signum, handler in old.items():
            signal.signal(signum, handler)
        os.close(wake_r)
        os.close(wake_w)


def _stop_worker(worker: BaseProcess, wake_r: int, patience: float) -> None:
    """One SIGTERM per stop signal received; kill the group if it outstays `patience`."""
    assert worker.pid is not None
    deadline = time.monotonic() + patience
    while worker.exitcode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)
        ready = wait([worker.sentinel, wake_r], timeout=max(0.0, deadline - time.monotonic()))
        if not ready:
            click.echo("backburner demo: the worker did not stop in time; killing it", err=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            break
        if wake_r in ready:
            os.read(wake_r, 64)
    worker.join()
