"""Transactional enqueue: find the caller's psycopg connection and bind it to a context.

`PostgresStore.transaction(obj)` accepts a psycopg 3 connection, or a SQLAlchemy Session,
scoped_session (Flask-SQLAlchemy's `db.session`) or Connection using the
postgresql+psycopg dialect. The binding lives in a ContextVar, so it holds for this
thread (or asyncio task) only, and nested blocks restore the outer binding on exit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import psycopg

#: Returns the connection of the caller's *current* transaction. Resolved at each use,
#: because a Session that commits inside the block may move to another connection.
Resolver = Callable[[], "psycopg.Connection[Any]"]

_SUPPORTED = (
    "a psycopg 3 Connection, or a SQLAlchemy Session, scoped_session (such as "
    "Flask-SQLAlchemy's db.session) or Connection whose engine URL uses the "
    "postgresql+psycopg:// dialect"
)

_bound: ContextVar[Mapping[int, Resolver]] = ContextVar(
    "backburner_postgres_transaction", default=MappingProxyType({})
)


def resolver(obj: object) -> Resolver:
    """How to reach the psycopg connection inside `obj`; TypeError if it has none."""
    if isinstance(obj, psycopg.Connection):
        conn: psycopg.Connection[Any] = obj
        return lambda: conn
    if "sqlalchemy" in sys.modules:  # an SQLAlchemy object implies SQLAlchemy is imported
        found = _sqlalchemy_resolver(obj)
        if found is not None:
            return found
    raise TypeError(f"transaction() needs {_SUPPORTED}; got {type(obj).__qualname__}")


def _sqlalchemy_resolver(obj: object) -> Resolver | None:
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.orm import Session, scoped_session

    if isinstance(obj, (Session, scoped_session)):
        session = obj
        # session.connection() starts the session's transaction if needed, and returns
        # the connection that transaction runs on
        return lambda: _driver(session.connection())
    if isinstance(obj, SAConnection):
        sa_conn = obj

        def current() -> psycopg.Connection[Any]:
            if not sa_conn.in_transaction():
                # begin as SQLAlchemy would on its first statement, so its commit() and
                # rollback() end the transaction our INSERT runs in
                sa_conn.begin()
            return _driver(sa_conn)

        return current
    return None


def _driver(sa_conn: Any) -> psycopg.Connection[Any]:
    dbapi = sa_conn.connection.driver_connection
    if not isinstance(dbapi, psycopg.Connection):
        dialect = f"{sa_conn.dialect.name}+{sa_conn.dialect.driver}"
        raise TypeError(
            f"transaction() needs {_SUPPORTED}; this SQLAlchemy connection uses the {dialect} "
            "dialect: create the engine with a postgresql+psycopg:// URL"
        )
    return dbapi


@contextmanager
def bind(key: int, resolve: Resolver) -> Iterator[None]:
    """Within the block, `bound(key)` returns `resolve` in this context."""
    token = _bound.set(MappingProxyType({**_bound.get(), key: resolve}))
    try:
        yield
    finally:
        _bound.reset(token)


def bound(key: int) -> Resolver | None:
    """The resolver bound to `key` in this context, if inside a transaction() block."""
    return _bound.get().get(key)
