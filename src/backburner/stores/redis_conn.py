"""Connections of the Redis store: URL options, one pool per process (made anew after
fork(), see forks.py), Lua scripts run by SHA, and errors as StoreUnavailable.

Scripts, every state change, run on connections of our own ("links"), taken from a free
list: a call is one send and one read, without the client's per-command pool machinery
(about half the client-side cost of a call). A link that failed mid-call is disconnected
before it goes back, and one the server closed while idle is reconnected before use, so
no call ever reads another call's reply.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from ..errors import StoreUnavailable
from ..urls import redact, scrub
from .forks import on_fork_in_child

log = logging.getLogger("backburner.redis")

SOCKET_TIMEOUT = 10.0  # default; the URL may set socket_timeout=SECONDS
# Replies that mean "this server cannot serve writes right now", not "bad request".
_UNAVAILABLE_REPLIES = ("OOM", "MISCONF", "READONLY", "BUSY", "MASTERDOWN", "CLUSTERDOWN")
# URL options passed on to redis-py. Anything else it would hand to its connection class,
# which fails with a TypeError at the first connection: checked here instead, up front.
_CLIENT_OPTIONS = (
    "db",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "health_check_interval",
    "max_connections",
    "client_name",
    "username",
    "password",
    "protocol",
)
_TLS_OPTIONS = (  # rediss:// only: a plain connection takes no TLS settings
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
)


def parse_url(url: str) -> tuple[str, str]:
    """Split off our `prefix` option: -> (URL for redis-py, prefix)."""
    base, _, query = url.partition("?")
    prefix = "bb"
    rest = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        _check_option(name, url)
        if name == "prefix":
            prefix = value
        else:
            rest.append((name, value))
    if not prefix or "{" in prefix or "}" in prefix:
        raise ValueError(
            f"bad prefix {prefix!r} in Redis URL {redact(url)!r}: use a non-empty name without "
            "braces, e.g. ?prefix=myapp"
        )
    # rebuilt by hand: urlunsplit() would turn unix:///path into unix:/path
    return base + (f"?{urlencode(rest)}" if rest else ""), prefix


def _check_option(name: str, url: str) -> None:
    tls = urlsplit(url).scheme.lower() == "rediss"
    valid = ("prefix", *_CLIENT_OPTIONS, *(_TLS_OPTIONS if tls else ()))
    if name in valid:
        return
    if name in _TLS_OPTIONS:
        hint = f"{name} is a TLS setting: use a rediss:// URL"
    else:
        near = difflib.get_close_matches(name, valid, n=1)
        hint = (f"did you mean {near[0]}? " if near else "") + f"valid are {', '.join(valid)}"
        if not tls:
            hint += " (and the ssl_* options with rediss://)"
    # the values of unknown options hidden too: a misspelt password option is still one
    unknown = [n for n, _ in parse_qsl(urlsplit(url).query) if n not in valid]
    shown = redact(url, hide=unknown)
    raise ValueError(f"unknown option {name!r} in Redis URL {shown!r}: {hint}")


# Scripts that run another's body as a function, named here: tick.lua stores a job as
# enqueue.lua does, by calling enqueue_jobs(), in the same script (so atomically).
WRAPS = {"tick": ("enqueue", "enqueue_jobs")}


def _load_sources() -> dict[str, str]:
    """Each script in lua/ by name, with lua/common.lua (its shared helpers) prepended,
    and the bodies WRAPS names as functions."""
    folder = resources.files(__package__).joinpath("lua")
    common = folder.joinpath("common.lua").read_text()
    bodies = {
        path.name.removesuffix(".lua"): path.read_text()
        for path in folder.iterdir()
        if path.name.endswith(".lua") and path.name != "common.lua"
    }
    sources = {name: body for name, body in bodies.items()}
    for name, (wrapped, function) in WRAPS.items():
        sources[name] = f"local function {function}()\n{bodies[wrapped]}\nend\n{bodies[name]}"
    return {name: prelude(common, body) + body for name, body in sources.items()}


def prelude(common: str, body: str) -> str:
    """The helpers of common.lua that `body` uses, directly or through another helper, in
    their order. Redis runs a script's whole text on every call: each helper defined
    costs server time (all of common.lua took 12 us a call, against 6 us for a bare
    `return 1`), so a script carries only what it needs."""
    chunks: list[tuple[set[str], str]] = []  # (names a top-level `local` defines, its text)
    for part in re.split(r"(?m)^(?=local )", common):
        head = part.split("\n", 1)[0]
        named = re.match(r"local function (\w+)|local ([\w, ]+?) *=", head)
        names = (
            {n.strip() for n in (named.group(1) or named.group(2)).split(",")} if named else set()
        )
        chunks.append((names, part))
    wanted = _words(body)
    kept = [False] * len(chunks)
    for i in reversed(range(len(chunks))):  # a helper only uses those defined before it
        names, text = chunks[i]
        if not names or names & wanted:
            kept[i] = True
            wanted |= _words(text)
    return "".join(text for (_, text), keep in zip(chunks, kept) if keep)


def _words(lua: str) -> set[str]:
    """The names Lua text mentions, comments left out."""
    return set(re.findall(r"\w+", re.sub(r"--[^\n]*", "", lua)))


@dataclass(frozen=True)
class Connection:
    """One process's client, and the idle connections its scripts run on."""

    client: redis.Redis
    max_block: float  # longest BLPOP that stays inside the socket timeout
    # redis.Connection objects (untyped in redis-py); pop() and append() are thread-safe
    idle: list[Any]


class RedisConnector:
    """Hands out this process's Connection to one Redis store URL and names its keys."""

    def __init__(self, url: str) -> None:
        self.redis_url, self.prefix = parse_url(url)
        self.namespace = "{" + self.prefix + "}"
        self.safe_url = redact(url)
        self._url = url
        self._sources = _load_sources()
        self._shas = {
            name: hashlib.sha1(src.encode()).hexdigest() for name, src in self._sources.items()
        }
        self._conn: Connection | None = None
        self._inherited: list[Connection] = []  # a parent's, kept alive and never used
        self._policy_checked = False
        on_fork_in_child(self, RedisConnector._after_fork)

    def _after_fork(self) -> None:
        # The parent's sockets: reading or closing them here would break its calls, so the
        # child keeps a reference (no close when collected) and never uses them.
        if self._conn is not None:
            self._inherited.append(self._conn)
            self._conn = None

    def connection(self) -> Connection:
        """This process's connection, made on first use (again in a forked child)."""
        conn = self._conn
        if conn is None:
            conn = self._open()
        if not self._policy_checked:  # until one check got through to the server
            self._check_policy(conn.client)
        return conn

    def _open(self) -> Connection:
        pool = redis.ConnectionPool.from_url(
            self.redis_url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=5.0,
            # No silent re-sends: a script whose reply was lost may have run already.
            retry=Retry(NoBackoff(), 0),
        )
        client = redis.Redis(connection_pool=pool)
        timeout = pool.connection_kwargs.get("socket_timeout")
        max_block = float("inf") if not timeout else max(timeout / 2, timeout - 1.0)
        self._conn = Connection(client, max_block, [])
        return self._conn

    def _check_policy(self, client: redis.Redis) -> None:
        try:
            policy = str(client.config_get("maxmemory-policy").get("maxmemory-policy", ""))
        except redis.ResponseError:
            policy = ""  # CONFIG disabled or renamed (managed Redis): nothing to check
        self._policy_checked = True
        if policy and policy != "noeviction" and not policy.startswith("volatile-"):
            log.warning(
                "Redis at %s has maxmemory-policy %s: when memory runs out it evicts keys, "
                "and jobs would be lost. Set maxmemory-policy noeviction (redis.conf, or "
                "CONFIG SET maxmemory-policy noeviction).",
                self.safe_url,
                policy,
            )

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn "Redis cannot be reached or cannot serve" into StoreUnavailable."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(
                f"cannot reach the Redis store at {self.safe_url}: "
                f"{scrub(str(exc), self._url)}. Check that redis-server is running and "
                "reachable there and that the URL (host, port, db, password, TLS) is right."
            ) from exc
        except redis.ResponseError as exc:
            if not str(exc).startswith(_UNAVAILABLE_REPLIES):
                raise
            raise StoreUnavailable(
                f"the Redis store at {self.safe_url} cannot serve the command: "
                f"{scrub(str(exc), self._url)}. Check its maxmemory, its disk space and that "
                "the URL names the primary."
            ) from exc

    def run(self, name: str, *args: Any) -> Any:
        """Run script `name` (lua/<name>.lua) by SHA with ARGV `args`."""
        with self.guard():
            conn = self.connection()
            link = self._link(conn)
            try:
                return self._evalsha(link, name, args)
            except redis.ResponseError:
                raise  # the server answered in full: the link is sound
            except BaseException:
                link.disconnect()  # a reply may be half read: reconnect before reuse
                raise
            finally:
                conn.idle.append(link)

    @staticmethod
    def _link(conn: Connection) -> Any:
        """An idle link of `conn`, or a new one. Like the pool, a link that the server
        closed while it sat idle (restart, idle timeout) is reconnected first."""
        try:
            link = conn.idle.pop()
        except IndexError:
            pool = conn.client.connection_pool
            return pool.connection_class(**pool.connection_kwargs)
        try:
            stale = link.can_read(timeout=0)
        except (redis.ConnectionError, OSError):
            stale = True
        if stale:
            link.disconnect()
        return link

    def _evalsha(self, link: Any, name: str, args: tuple[Any, ...]) -> Any:
        try:
            link.send_command("EVALSHA", self._shas[name], 1, self.namespace, *args)
            return link.read_response()
        except NoScriptError:  # a restarted or flushed server: load it, then run it
            link.send_command("SCRIPT", "LOAD", self._sources[name])
            link.read_response()
            link.send_command("EVALSHA", self._shas[name], 1, self.namespace, *args)
            return link.read_response()

    def key(self, *parts: str) -> str:
        """The key of `parts` in this store's namespace, e.g. key("job", id)."""
        return ":".join((self.namespace, *parts))

    def close(self) -> None:
        """Disconnect this process's pool; the next call opens a new one."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.client.connection_pool.disconnect()
        for link in conn.idle:
            link.disconnect()
