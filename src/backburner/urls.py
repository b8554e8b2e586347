"""Store URLs as people read them: passwords hidden, SQLite paths made absolute.

Imports nothing from backburner and opens nothing, so logs, the CLI and the Flask
extension can all use it before (or without) a store connection.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

__all__ = ["describe", "redact", "resolve_sqlite", "scrub", "sqlite_file"]

# A query option whose name contains one of these holds a secret: password, sslpassword,
# ssl_password, passwd, scram_client_key, an auth token... Matching a part of the name
# errs on hiding too much, never too little.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "credential", "scram")
_HIDDEN = "***"


def _is_secret(option: str) -> bool:
    name = option.lower()
    return any(word in name for word in _SECRET_WORDS)


def redact(url: str, hide: Iterable[str] = ()) -> str:
    """`url` with its password, and the value of every password-like query option
    (password, sslpassword, ssl_password, passwd, *token*, *secret*...) and of the options
    named in `hide`, replaced by ***: safe to log or print. Everything else, including the
    user name, is kept. Text that does not parse as a URL is shown as its scheme only."""
    hidden_names = {name.lower() for name in hide}
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        scheme = url.partition("://")[0] if "://" in url else ""
        return f"{scheme}://{_HIDDEN} (malformed URL)" if scheme.isalnum() else _HIDDEN
    shown = url  # edited in place: urlunsplit would turn sqlite:/// into sqlite:/
    raw = _raw_password(url)
    if raw:  # read from the text itself: an unquoted / ? # in a password fools urlsplit
        start = url.index("://") + 3
        user_end = url.index(":", start)
        shown = url[: user_end + 1] + _HIDDEN + url[user_end + 1 + len(raw) :]
        parts = urlsplit(shown)
    options = parse_qsl(parts.query, keep_blank_values=True)

    def secret(key: str) -> bool:
        return _is_secret(key) or key.lower() in hidden_names

    def shown_value(key: str, value: str) -> str:
        if secret(key):
            return _HIDDEN
        # an option holding a URL of its own (listen_url=...): its password hidden too
        return redact(value) if "://" in value else value

    hidden = [(k, shown_value(k, v)) for k, v in options]
    if hidden != options:
        shown = shown.replace(f"?{parts.query}", f"?{urlencode(hidden, safe='*:/@')}", 1)
    return shown


def _raw_password(url: str) -> str:
    """The password as written between user: and the last @ of the URL's authority ("" if
    none), found in the text rather than by urlsplit, which a base64 password with a / or
    a # cuts short."""
    _, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return ""
    user, colon, password = rest[:at].partition(":")
    return password if colon and "/" not in user else ""


def scrub(text: str, url: str) -> str:
    """`text` (a driver's error message, say) with every secret `url` holds replaced by
    ***: its password and the values of its password-like options (see `redact`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    password = parts.password or ""
    raw = _raw_password(url)
    secrets = [password, unquote(password), raw, unquote(raw)]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _is_secret(key):
            secrets.append(value)
        elif "://" in value:  # a URL in an option (listen_url=...): its password too
            secrets += [p for p in (_raw_password(value), unquote(_raw_password(value))) if p]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    return text


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
