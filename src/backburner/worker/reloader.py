"""Reloading a worker's code: the app imported afresh, source files watched for --reload,
and the order in which children running the old code are replaced.

The supervisor imports the app again itself, then forks the new children from it, rather
than each child importing it: a module that no longer imports (a syntax error mid-edit) is
then caught once, logged, and the children keep running the code they have, instead of
crash-looping; and children still start as cheap forks that share what the app loaded.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..urls import redact
from .messages import Stop

if TYPE_CHECKING:
    from ..app import Backburner
    from .supervisor import Supervisor

log = logging.getLogger("backburner.worker")

WATCH_EVERY = 1.0  # seconds between two scans of the source files (--reload)
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "dist-packages", "venv"}
_OURS = Path(__file__).resolve().parent.parent  # backburner itself is never reloaded


def fresh_backburner(spec: str) -> Backburner:
    """Import the app `spec` names again, with the user's modules (those whose file is under
    the current folder, outside virtualenvs and site-packages) imported afresh."""
    from ..loader import load_backburner

    root = Path.cwd().resolve()
    for name, module in list(sys.modules.items()):
        if name != "__main__" and _is_users(module, root):
            del sys.modules[name]
    importlib.invalidate_caches()
    return load_backburner(spec)


def _is_users(module: ModuleType | None, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    if not path.is_relative_to(root) or path.is_relative_to(_OURS):
        return False
    return not any(part in _SKIP_DIRS or part.startswith(".") for part in path.parts)


class SourceWatcher:
    """The modification times of the *.py files under `root`, to tell when one changed."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.seen = self._scan()

    def changed(self) -> str | None:
        """A file added, edited or removed since the last call, if any."""
        now = self._scan()
        if now == self.seen:
            return None
        diff = {p for p in now.keys() | self.seen.keys() if now.get(p) != self.seen.get(p)}
        self.seen = now
        return os.path.relpath(min(diff), self.root)

    def _scan(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}  # path: (mtime, size), coarse clocks too
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [
                d
                for d in dirs
                if d not in _SKIP_DIRS
                and not d.startswith(".")
                and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))
            ]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    try:
                        stat = os.stat(path)
                        found[path] = (stat.st_mtime_ns, stat.st_size)
                    except OSError:  # removed while we looked
                        continue
        return found


@dataclass
class Rollout:
    """Children still running the old code, replaced one at a time: a new child starts,
    then the old one is stopped gracefully; the next waits until it has exited (or its
    shutdown timeout passed and its jobs were handed back)."""

    stale: list[int] = field(default_factory=list)  # child indices, in replacement order
    retiring: int | None = None  # the child being stopped now
    deadline: float = 0.0  # when its running jobs are handed back

    @property
    def active(self) -> bool:
        return bool(self.stale) or self.retiring is not None

    def begin(self, sup: Supervisor, why: str) -> None:
        """Import the app again (with the supervisor's loader, if any) and mark every child
        as to be replaced. If the import fails or names another store, nothing changes."""
        if sup.stopping:
            return
        if sup.loader is not None:
            try:
                fresh = sup.loader()
            except (Exception, SystemExit) as exc:  # mid-edit, or exits: keep the code we have
                log.error("reload (%s) failed; the children keep their code: %s", why, exc)
                return
            if fresh.url != sup.bb.url:  # the leases held are in the old store
                log.error(
                    "reload (%s) refused: the store changed from %s to %s; restart the "
                    "worker to move to another store",
                    why,
                    redact(sup.bb.url),
                    redact(fresh.url),
                )
                return
            sup.bb, old = fresh, sup.bb
            old.close()
        self.stale = sorted(i for i, c in sup.children.items() if not c.retiring)
        log.info(
            "reload (%s): replacing %d child(ren) one at a time with %s code; running jobs "
            "finish first (up to %.0fs each)",
            why,
            len(self.stale),
            "freshly imported" if sup.loader is not None else "the same (no APP to import)",
            sup.config.shutdown_timeout,
        )

    def advance(self, sup: Supervisor, now: float) -> None:
        """Start a new child and stop one old child, once the previous old one is gone."""
        if sup.stopping or not self.active:
            return
        if self.retiring is not None:
            old = sup.children.get(self.retiring)
            if old is not None and now < self.deadline:
                return  # still finishing its jobs
            if old is not None:
                sup._hand_back(old, "reload: shutdown timeout reached")
            self.retiring = None
        while self.stale:
            child = sup.children.get(self.stale.pop(0))
            if child is None:  # died meanwhile: its restart forks the new code already
                continue
            sup._spawn(sup.next_index)
            sup.next_index += 1
            child.retiring = True
            sup._send(child, Stop())
            self.retiring = child.index
            self.deadline = now + sup.config.shutdown_timeout
            return
        log.info("reload done: every child runs the new code")
