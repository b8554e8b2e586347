"""gunicorn settings for the seed app, with a backburner worker started by gunicorn itself
(what uwsgi.ini does with attach-daemon).

    gunicorn -c examples/seed/gunicorn.conf.py            # from any folder
    gunicorn -c examples/seed/gunicorn.conf.py --preload  # also safe: see below

`preload_app` imports the app in the master before forking its workers. That is safe:
creating the app opens no store connection (the store opens on first use, once per
process, and reopens in a forked child).

In production, prefer `backburner worker app:app` as its own service (systemd, a
Procfile line, a container) so web and jobs restart and scale independently.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
chdir = str(HERE)
wsgi_app = "app:app"
bind = ["127.0.0.1:5000"]
workers = 3
# the store, for the web workers and the job worker: this SQLite file unless
# $BACKBURNER_URL names another (redis://, postgresql://)
os.environ.setdefault("BACKBURNER_URL", f"sqlite:///{HERE}/backburner-seed.db")

WORKER_PROCESSES = 2
_worker: dict[str, subprocess.Popen[bytes]] = {}


def on_starting(server: Any) -> None:
    """Start the job worker with the gunicorn master, in its own session so Ctrl-C
    reaches only gunicorn, which then stops it once, cleanly, in on_exit."""
    _worker["proc"] = subprocess.Popen(
        [sys.executable, "-m", "backburner", "worker", "app:app", "-p", str(WORKER_PROCESSES)],
        cwd=HERE,
        start_new_session=True,
    )
    server.log.info("backburner worker started (pid %s)", _worker["proc"].pid)


def on_exit(server: Any) -> None:
    """Stop the job worker: running jobs get its shutdown timeout (30 s) to finish, then
    go back to the queue."""
    proc = _worker.pop("proc", None)
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    server.log.info("backburner worker stopped")
