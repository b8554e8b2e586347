"""What the figures were measured on: machine, interpreter, servers, library versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = (
    "backburner",
    "huey",
    "rq",
    "celery",
    "kombu",
    "billiard",
    "dramatiq",
    "procrastinate",
    "redis",
    "hiredis",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
)


def _proc_field(path: str, name: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.lower().startswith(name.lower()):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def machine() -> dict[str, str]:
    """CPU model, core count, memory and kernel of this machine."""
    kib = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    memory = f"{int(kib) / 2**20:.1f} GiB" if kib.isdigit() else "?"
    return {
        "CPU": _proc_field("/proc/cpuinfo", "model name"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": memory,
        "kernel": f"{platform.system()} {platform.release()}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def versions() -> dict[str, str]:
    """Python, SQLite (the module's library) and every benchmarked package."""
    found = {"Python": f"{platform.python_implementation()} {platform.python_version()}"}
    found["SQLite"] = sqlite3.sqlite_version
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def source(root: Path) -> str:
    """The commit benchmarked, and whether the working tree differed from it (read-only)."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return run.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "?"


def digest(package: Path) -> str:
    """A short hash of the backburner package in `package` as it is now: the venv runs
    the working tree, so edits made mid-run change what later rounds measure."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".sql", ".lua"):
            h.update(str(path.relative_to(package)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
