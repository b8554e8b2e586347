"""How stores forget, in a forked child, what belongs to the parent process.

A child of fork() inherits the parent's connections and sockets as open descriptors, and
none of its other threads. Reusing such a connection mixes two processes' traffic on one
socket; closing it can release the parent's locks (SQLite) or end its session (Redis,
PostgreSQL). So each class that holds per-process state registers one method here, run
first thing in every child: it drops that state, keeping the parent's connections
referenced (so garbage collection does not close them either) but never using them, and
replaces any lock a parent thread may have held at fork(). Nothing else checks the pid.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# One fork hook for the interpreter, whatever the number of stores: os.register_at_fork
# cannot unregister, so a hook per store would pile up in a process that opens many.
# Weak references, so registering never keeps a store alive.
_owners: list[tuple[weakref.ref[Any], Callable[[Any], None]]] = []
_registering = threading.Lock()


def on_fork_in_child(owner: T, reset: Callable[[T], None]) -> None:
    """Call `reset(owner)` in the child after each fork(), for as long as `owner` lives.

    Resets run in registration order, before the child's own code runs again.
    """
    global _owners
    with _registering:
        alive = [(ref, fn) for ref, fn in _owners if ref() is not None]
        # rebound, never mutated: a child forked meanwhile sees the old list or the new
        _owners = [*alive, (weakref.ref(owner), reset)]


def _after_fork_in_child() -> None:
    global _registering
    _registering = threading.Lock()  # a parent thread may have held it at fork()
    for ref, reset in _owners:
        owner = ref()
        if owner is not None:
            reset(owner)


os.register_at_fork(after_in_child=_after_fork_in_child)
