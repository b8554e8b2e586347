"""Wake idle SQLite workers in microseconds without polling the database.

Every waiting thread binds a Unix datagram socket in a folder named after the database
file (under $XDG_RUNTIME_DIR or the temp dir). A commit that makes work due sends one
byte to each socket there. Waiters still re-check the database every FALLBACK seconds,
so a producer that cannot see the folder (another container, say) is only slower.

A worker that stops wakes its own waiting threads the same way (`stop`), so an idle
thread sees the stop at once rather than at the end of its wait.

The temp dir is shared by every user, so its folders are used only when they are this
user's own and closed to others (0700): one that another user made first is refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import select
import socket
import stat
import tempfile
import threading
from typing import Any

from ..errors import StoreUnavailable
from .forks import on_fork_in_child

FALLBACK = 0.25  # seconds between database checks while waiting
PRIVATE = 0o700  # the mode of the folders: this user's only


def channel_dir(db_path: str) -> str:
    """The folder of wake-up sockets for `db_path` (short, so socket paths fit 108 bytes)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    digest = hashlib.sha1(os.path.realpath(db_path).encode()).hexdigest()[:16]
    return os.path.join(base, f"backburner-{os.getuid()}", digest)


def make_private(folder: str) -> None:
    """Create `folder` and its parent (`backburner-UID`) as this user's own, mode 0700, or
    check the ones that exist are; StoreUnavailable, saying what to do, if one is not."""
    for path in (os.path.dirname(folder), folder):
        try:
            os.mkdir(path, PRIVATE)
            os.chmod(path, PRIVATE)  # exactly 0700, whatever the umask
        except FileExistsError:
            _close_own(path)
        why = unsafe(path)
        if why:
            raise StoreUnavailable(
                f"refusing to use the SQLite wake-up folder {path!r}: {why}, so another user "
                "could tamper with it; remove it (as its owner, or root), or set "
                "XDG_RUNTIME_DIR to a folder only you can write to"
            )


def _close_own(path: str) -> None:
    """Make a real folder of ours that not everyone could write to 0700: older versions
    left `backburner-UID` with the umask's mode (0755, or 0775 under umask 002), and
    refusing it would stop every upgraded worker's wake-ups for good. One every user could
    write to (0777: anyone may have planted sockets there), someone else's, or a symlink is
    left as it is, for `unsafe` to refuse."""
    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o002:
        os.chmod(path, PRIVATE)


def unsafe(path: str) -> str:
    """Why the folder at `path` is not safe for this user's sockets; "" when it is."""
    info = os.lstat(path)  # lstat: a symlink (someone else's choice of folder) is refused
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder (a symlink?)"
    if info.st_uid != os.geteuid():  # the owner of what this process creates
        return f"it belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return f"its mode is {mode:#o}, open to other users (it must be 0o700)"
    return ""


class Wakeup:
    """The notify side (any process) and the wait side (one socket per waiting thread)."""

    def __init__(self, db_path: str) -> None:
        self.folder = channel_dir(db_path)
        self._local = threading.local()
        self._sender: socket.socket | None = None
        self._listing: tuple[float, list[str]] = (-1.0, [])
        self._inherited: list[Any] = []  # the parent's sockets, never used or closed here
        self._mine: set[str] = set()  # this process's listeners, for stop()
        self._stopped = False
        self._lock = threading.Lock()  # guards _mine and _stopped
        on_fork_in_child(self, Wakeup._after_fork)

    def _after_fork(self) -> None:
        # The forking thread's listener is bound to a path the parent still waits on:
        # close() would unlink it. The child binds its own on first wait.
        self._inherited.append((self._sender, self._local))
        self._sender = None
        self._local = threading.local()
        self._mine = set()
        self._stopped = False
        self._lock = threading.Lock()  # may have been held by a thread of the parent

    # -- notify ------------------------------------------------------------------------
    def notify(self) -> None:
        """Tell every waiter that work may be due. Never raises, never blocks."""
        try:
            names = self._names()
        except OSError:
            return
        if not names:
            return
        sender = self._socket_for_sending()
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                sender.sendto(b"!", path)
            except BlockingIOError:
                pass  # its buffer is full of wake-ups already
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    with contextlib.suppress(OSError):
                        os.unlink(path)  # its process is gone

    def _names(self) -> list[str]:
        mtime = os.stat(self.folder).st_mtime
        if mtime != self._listing[0]:
            # an unsafe folder is left alone: its waiters refuse it (see make_private), and
            # a commit must not fail for it
            names = [] if unsafe(self.folder) else os.listdir(self.folder)
            self._listing = (mtime, names)
        return self._listing[1]

    def _socket_for_sending(self) -> socket.socket:
        if self._sender is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._sender = sock
        return self._sender

    def stop(self) -> None:
        """Wake this process's waiters, for good: from now on `wait` returns at once.
        Never raises, never blocks."""
        with self._lock:
            self._stopped = True
            paths = list(self._mine)
        sender = self._socket_for_sending()
        for path in paths:
            with contextlib.suppress(OSError):  # full of wake-ups already, or closed
                sender.sendto(b"!", path)

    # -- wait --------------------------------------------------------------------------
    def _listener(self) -> socket.socket | None:
        held = getattr(self._local, "sock", None)
        if held is not None:
            return held[0]  # type: ignore[no-any-return]
        try:
            make_private(self.folder)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            path = os.path.join(self.folder, f"{os.getpid()}-{secrets.token_hex(4)}")
            sock.bind(path)
            sock.setblocking(False)
        except OSError:
            return None
        self._local.sock = (sock, path)
        with self._lock:
            self._mine.add(path)
        return sock

    def drain(self) -> None:
        """Forget wake-ups that arrived while not waiting (call before checking for work).
        Raises StoreUnavailable, as `wait` does, if the folder is another user's."""
        sock = self._listener()
        if sock is None:
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while sock.recv(64):
                pass

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` s (at most FALLBACK); True if woken by a notify, or
        stopped."""
        sock = self._listener()  # listed in _mine first: a stop after this wakes it
        with self._lock:
            if self._stopped:
                return True
        if sock is None:
            select.select([], [], [], min(timeout, FALLBACK))
            return False
        ready, _, _ = select.select([sock], [], [], min(timeout, FALLBACK))
        if ready:
            self.drain()
            return True
        return False

    def close(self) -> None:
        """Remove this thread's socket."""
        held = getattr(self._local, "sock", None)
        if held is not None:
            with self._lock:
                self._mine.discard(held[1])
            held[0].close()
            with contextlib.suppress(OSError):
                os.unlink(held[1])
        self._local = threading.local()
