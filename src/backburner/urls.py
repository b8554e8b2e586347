"""Store URLs as people read them: passwords hidden, SQLite paths made absolute.

Imports nothing from backburner and opens nothing, so logs, the CLI and the Flask
extension can all use it before (or without) a store connection.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["describe", "redact", "resolve_sqlite", "sqlite_file"]

_SECRET_OPTIONS = frozenset({"password", "passwd", "sslpassword"})
_HIDDEN = "***"


def redact(url: str) -> str:
    """`url` with its password, and any password query option, replaced by ***: safe to
    log or print. Everything else, including the user name, is kept."""
    parts = urlsplit(url)
    shown = url  # edited in place: urlunsplit would turn sqlite:/// into sqlite:/
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        shown = shown.replace(parts.netloc, f"{userinfo.partition(':')[0]}:{_HIDDEN}@{host}", 1)
    options = parse_qsl(parts.query, keep_blank_values=True)
    if any(key.lower() in _SECRET_OPTIONS for key, _ in options):
        hidden = [(k, _HIDDEN if k.lower() in _SECRET_OPTIONS else v) for k, v in options]
        shown = shown.replace(f"?{parts.query}", f"?{urlencode(hidden, safe='*')}", 1)
    return shown


def _sqlite_path(url: str) -> str | None:
    """The file path of a sqlite:/// URL as written (relative or absolute), else None."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite" or parts.netloc:
        return None
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return path or None


def sqlite_file(url: str) -> str | None:
    """The absolute path of the file a sqlite:/// URL names, from the current folder as
    the SQLite store resolves it; None for other stores."""
    path = _sqlite_path(url)
    return None if path is None else os.path.abspath(path)


def resolve_sqlite(url: str, folder: str) -> str:
    """A sqlite:/// URL with a relative path made absolute under `folder` (options kept);
    any other URL unchanged. What `init_app` does with the app's instance folder."""
    path = _sqlite_path(url)
    if path is None or os.path.isabs(path):
        return url
    query = urlsplit(url).query
    return f"sqlite:///{os.path.join(folder, path)}" + (f"?{query}" if query else "")


def describe(url: str, *, default: bool = False) -> str:
    """A store for a log line: the redacted URL, the absolute path of an SQLite file, and
    with `default`, that no URL was given (the implicit sqlite:///backburner.db)."""
    text = redact(url)
    path = sqlite_file(url)
    if path is not None:
        text += f" (file {path})"
    return text + (" (the default: no URL given)" if default else "")
