"""`backburner dashboard APP`: the dashboard of any app's store (Django, FastAPI, none),
served by a small Flask app of its own on werkzeug's threaded server.

Bound to 127.0.0.1 by default. Who gets in: with BACKBURNER_DASHBOARD_USER and
BACKBURNER_DASHBOARD_PASSWORD set, whoever gives them (HTTP basic auth; put it behind
TLS beyond this machine); without them, clients on this machine only, and a host other
than a loopback address is refused. `--read-only` hides every button and refuses
every action.
"""

from __future__ import annotations

import ipaddress
import os

import click

USER_VAR = "BACKBURNER_DASHBOARD_USER"
PASSWORD_VAR = "BACKBURNER_DASHBOARD_PASSWORD"
# as cli.py's (imported from there, it would be half-defined: cli.py imports this module)
app_argument = click.argument("app", metavar="APP", envvar="BACKBURNER_APP")


def is_loopback(host: str) -> bool:
    """Whether `host` (what --host names) is a loopback address or localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command()
@app_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--read-only", is_flag=True, help="No buttons: every action is refused.")
def dashboard(app: str | None, host: str, port: int, read_only: bool) -> None:
    """Serve the dashboard of APP's store: queues, jobs, workers, schedules and the
    audit log, with retry, cancel, delete, pause and resume.

    Credentials from $BACKBURNER_DASHBOARD_USER and $BACKBURNER_DASHBOARD_PASSWORD (basic
    auth); without them only this machine's clients get in, on a loopback --host."""
    try:
        from werkzeug.serving import make_server

        from .dashboard import standalone_app
        from .dashboard.guard import basic_auth, local_only
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs Flask ({exc}): pip install 'backburner[flask]'"
        ) from None
    user, password = os.environ.get(USER_VAR, ""), os.environ.get(PASSWORD_VAR, "")
    if bool(user) != bool(password):
        raise click.ClickException(f"set both {USER_VAR} and {PASSWORD_VAR}, or neither")
    if not user and not is_loopback(host):
        raise click.ClickException(
            f"--host {host} lets other machines connect, and the dashboard has no "
            f"credentials: set {USER_VAR} and {PASSWORD_VAR} (basic auth; serve it behind "
            "TLS), or keep the default --host 127.0.0.1"
        )
    from .cli import _bb  # cli.py imports this module

    bb = _bb(app)
    access = basic_auth(user, password) if user else local_only
    # werkzeug reports an address in use or not this machine's, and exits
    server = make_server(
        host, port, standalone_app(bb, access=access, read_only=read_only), threaded=True
    )
    shown_host = f"[{host}]" if ":" in host else host  # an IPv6 address
    click.echo(
        f"backburner dashboard on http://{shown_host}:{server.port}/"
        + (" (read-only)" if read_only else "")
        + (" (basic auth)" if user else " (this machine only)")
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
