"""Who may see the dashboard and act on it, and the headers every answer carries.

Access: `access(request)` -> "all" | "read_only" | None; without it, "all" for clients
on this machine (a loopback address, and no Forwarded / X-Forwarded-* / Via header:
behind a proxy every client would look local) and None for others. None answers 403.
A reverse proxy on the same machine that adds none of those headers must not be used
without `access`.

Cross-site request forgery, refused on every POST, without the app's SECRET_KEY or a
session (the token pain Sidekiq's users had when mounting it):
- a browser's `Sec-Fetch-Site` must be "same-origin" or "none" (typed, bookmarked);
- an `Origin` header, when sent, must name this host;
- a client without fetch metadata (an old browser) must send the form's token, equal
  to the `bb_csrf` cookie (double submit: a SameSite=Strict, HttpOnly cookie of random
  bytes, which another site can neither read nor send along). Over HTTPS the cookie is
  `__Host-bb_csrf` (Secure, Path=/, no Domain): a page on a sibling subdomain could set a
  plain `bb_csrf` for the parent domain and post its value ("cookie tossing"), but
  browsers take a `__Host-` cookie only from this very host.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from flask import Blueprint, Request, Response, abort, g, request

from ..app import Backburner

Level = Literal["all", "read_only"]
Access = Callable[[Request], Any]
"""`access(request)`: "all", "read_only", or None (refused)."""
User = Callable[[Request], Any]
"""`user(request)`: the name the audit log records for this request's actions."""

LEVELS = ("all", "read_only")
COOKIE = "bb_csrf"
HOST_COOKIE = "__Host-" + COOKIE  # over HTTPS: no other host can set it
FIELD = "csrf_token"
# a request carrying one came through a proxy: its client may be anywhere
PROXY_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Real-IP",
    "Via",
)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
SAFE_SITES = ("same-origin", "none")


@dataclass(frozen=True)
class Dashboard:
    """How one mounted dashboard decides access and names users."""

    backburner: Callable[[], Backburner]
    access: Access | None = None
    user: User | None = None
    read_only: bool = False
    prefix: str = ""  # where it is mounted in the app ("" for the root)

    def cookie_path(self) -> str:
        """The path of its cookies: its own pages only, under the app's own root when
        the app is mounted below one (SCRIPT_NAME)."""
        return request.script_root.rstrip("/") + self.prefix or "/"

    def level(self, req: Request) -> Level | None:
        """What this request may do: "all", "read_only", or None."""
        answer = (self.access or local_only)(req)
        if answer is None:
            return None
        if answer not in LEVELS:
            raise ValueError(
                f"dashboard_access returned {answer!r}; return 'all', 'read_only' or None"
            )
        return "read_only" if self.read_only else cast(Level, answer)

    def actor(self, req: Request) -> str:
        """Who acts, for the audit log."""
        name = self.user(req) if self.user is not None else None
        if not name:  # a basic-auth name only once `basic_auth` checked its password
            name = g.get("bb_basic_user")
        return str(name) if name else "anonymous"


def is_local(req: Request) -> bool:
    """A client on this machine, talking to us directly (no proxy header). A proxy on
    this machine that adds none of PROXY_HEADERS makes every client look local: such a
    deployment must pass `dashboard_access`."""
    if any(h in req.headers for h in PROXY_HEADERS):
        return False
    if not loopback_name(req.host):
        return False  # DNS rebinding: another site's name pointed at 127.0.0.1
    try:
        address = ipaddress.ip_address((req.remote_addr or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # ::ffff:127.0.0.1
    return address.is_loopback


def loopback_name(host: str) -> bool:
    """Whether a Host header names this machine: localhost, or a loopback address."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def local_only(req: Request) -> Level | None:
    """The default access: "all" for clients on this machine, None for others."""
    return "all" if is_local(req) else None


def basic_auth(user: str, password: str) -> Access:
    """An access function letting in ("all") those who give `user` and `password` by
    HTTP basic auth, and asking the others to (401)."""

    def access(req: Request) -> Level:
        given = req.authorization
        if given is not None and given.type == "basic":
            # digests of equal length, both compared always: the time says nothing
            same_user = hmac.compare_digest(_digest(given.username), _digest(user))
            same_password = hmac.compare_digest(_digest(given.password), _digest(password))
            if same_user & same_password:
                g.bb_basic_user = user
                return "all"
        challenge = Response("sign in to see the backburner dashboard\n", 401)
        challenge.headers["WWW-Authenticate"] = 'Basic realm="backburner", charset="UTF-8"'
        abort(challenge)

    return access


def _digest(text: str | None) -> bytes:
    return hashlib.sha256((text or "").encode()).digest()


def cross_site(req: Request) -> str | None:
    """Why this POST may come from another site (refused), or None."""
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAFE_SITES:
        return f"a {site} request (Sec-Fetch-Site)"
    origin = req.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != req.host:
        return f"a request from another origin ({origin[:100]})"
    if site is None:
        sent, cookie = req.form.get(FIELD, ""), req.cookies.get(cookie_name(req), "")
        if not sent or not cookie or not hmac.compare_digest(sent, cookie):
            return "a form without this dashboard's token (reload the page and try again)"
    return None


def cookie_name(req: Request) -> str:
    """The token cookie's name for this request: `__Host-bb_csrf` over HTTPS."""
    return HOST_COOKIE if req.is_secure else COOKIE


def csrf_token() -> str:
    """The token forms carry (the cookie's value; a new one when the browser has none)."""
    token = getattr(g, "bb_csrf", None)
    if token is None:
        token = request.cookies.get(cookie_name(request)) or secrets.token_urlsafe(32)
        g.bb_csrf = token
    return str(token)


def dashboard() -> Dashboard:
    """The Dashboard serving this request."""
    dash: Dashboard = g.bb_dashboard
    return dash


def can_act() -> bool:
    """Whether this request's user may use the buttons."""
    return bool(g.get("bb_level") == "all")


def install(blueprint: Blueprint, dash: Dashboard) -> None:
    """Check access and forgery before each request of `blueprint`; add the headers after."""

    @blueprint.before_request
    def check() -> None:
        g.bb_dashboard = dash
        level = dash.level(request)
        if level is None:
            abort(403, "you may not see this dashboard")
        g.bb_level = level
        if request.method not in ("GET", "HEAD"):
            if level != "all":
                abort(403, "read-only access: actions are not allowed")
            reason = cross_site(request)
            if reason is not None:
                abort(403, f"refused {reason}: actions must come from the dashboard's pages")

    @blueprint.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != f"{blueprint.name}.static":
            response.cache_control.no_store = True
        token = getattr(g, "bb_csrf", None)
        name = cookie_name(request)
        if token is not None and request.cookies.get(name) != token:
            response.set_cookie(
                name,
                token,
                # a __Host- cookie must have Path=/ (browsers refuse it otherwise)
                path="/" if name == HOST_COOKIE else dash.cookie_path(),
                httponly=True,
                samesite="Strict",
                secure=request.is_secure,
            )
        return response

    @blueprint.context_processor
    def helpers() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "can_act": can_act, "csrf_field": FIELD}
