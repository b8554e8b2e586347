"""Transactional enqueue on PostgreSQL: the caller's psycopg 3 connection (or a SQLAlchemy
Session, scoped_session or Connection using the postgresql+psycopg dialect), found and
bound by `caller_tx`.
"""

from __future__ import annotations

from typing import Any

import psycopg

from .caller_tx import CallerConnections

_CALLER: CallerConnections[psycopg.Connection[Any]] = CallerConnections(
    "postgres",
    psycopg.Connection,
    "a psycopg 3 Connection, or a SQLAlchemy Session, scoped_session (such as "
    "Flask-SQLAlchemy's db.session) or Connection whose engine URL uses the "
    "postgresql+psycopg:// dialect",
    "create the engine with a postgresql+psycopg:// URL",
)
resolver = _CALLER.resolver
bind = _CALLER.bind
bound = _CALLER.bound
