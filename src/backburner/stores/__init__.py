"""Stores: where jobs live. `open_store(url)` picks the backend from the URL scheme."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from ..errors import MissingExtra
from ..urls import redact
from .base import (
    SCAN_LIMIT,
    AuditEntry,
    HeartbeatReply,
    HistoryPoint,
    JobFilter,
    JobPage,
    Store,
    WorkerInfo,
)

__all__ = [
    "SCAN_LIMIT",
    "AuditEntry",
    "HeartbeatReply",
    "HistoryPoint",
    "JobFilter",
    "JobPage",
    "Store",
    "WorkerInfo",
    "check_url",
    "open_store",
    "store_scheme",
    "supported_schemes",
]

# scheme -> (module, class, extra that provides its dependencies)
_BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "memory": ("memory", "MemoryStore", None),
    "sqlite": ("sqlite", "SQLiteStore", None),
    "redis": ("redis", "RedisStore", "redis"),
    "rediss": ("redis", "RedisStore", "redis"),
    "unix": ("redis", "RedisStore", "redis"),
    "postgresql": ("postgres", "PostgresStore", "postgres"),
    "postgres": ("postgres", "PostgresStore", "postgres"),
}


def supported_schemes() -> list[str]:
    """The URL schemes `open_store` accepts, sorted."""
    return sorted(_BACKENDS)


def store_scheme(url: str) -> str:
    """The scheme of `url`, lowercased, if a backend serves it; else ValueError naming the
    supported ones. Imports no backend, so `Backburner(url)` can check its URL at once and
    still connect on first use."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _BACKENDS:
        raise ValueError(
            f"unsupported store URL {redact(url)!r}: the scheme must be one of "
            f"{', '.join(s + '://' for s in supported_schemes())} "
            "(for example sqlite:///jobs.db or redis://localhost:6379/0)"
        )
    return scheme


def check_url(url: str) -> str:
    """Check everything about `url` that needs no connection, and return its scheme: the
    scheme, the URL's options (ValueError listing the valid ones), that the backend's extra
    is installed (MissingExtra), and for SQLite that the file's folder exists and is
    writable (StoreUnavailable). `Backburner(url)` calls it, so a typo fails at start, not
    at the first `delay()`; connections still open on first use, in each process."""
    scheme = store_scheme(url)
    check = getattr(_backend(scheme), "check_url", None)
    if check is not None:
        check(url)
    return scheme


def _backend(scheme: str) -> ModuleType:
    module_name, _, extra = _BACKENDS[scheme]
    try:
        return importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as exc:
        if extra is None:
            raise
        raise MissingExtra(
            f"the {scheme}:// store needs the {extra} extra: pip install 'backburner[{extra}]' "
            f"({exc})"
        ) from exc


def open_store(url: str, **options: Any) -> Store:
    """Create the store for `url`. Connections open lazily, per process.

    Raises ValueError for an unknown scheme or a malformed URL, and MissingExtra naming
    the pip extra when the backend's dependencies are not installed.
    """
    scheme = store_scheme(url)
    cls: type[Store] = getattr(_backend(scheme), _BACKENDS[scheme][1])
    return cls(url, **options)
