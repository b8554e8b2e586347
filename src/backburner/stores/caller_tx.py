"""Transactional enqueue, for stores that can write on the caller's own connection: find
that DB-API connection in what the caller passed to `transaction()` and bind it to a
context.

`CallerConnections(driver=...)` accepts a `driver` connection itself, or a SQLAlchemy
Session, scoped_session (Flask-SQLAlchemy's `db.session`) or Connection whose dialect
uses that driver. The binding lives in a ContextVar, so it holds for this thread (or
asyncio task) only, and nested blocks restore the outer binding on exit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Generic, TypeVar

C = TypeVar("C")

#: Returns the connection of the caller's *current* transaction. Resolved at each use,
#: because a Session that commits inside the block may move to another connection.
Resolver = Callable[[], C]


class CallerConnections(Generic[C]):
    """How one store finds and binds the caller's connections of type `driver`.

    `supported` names what `transaction()` accepts, and `dialect_hint` what to do about a
    SQLAlchemy connection of another driver; both go into the TypeError users see.
    """

    def __init__(self, name: str, driver: type[C], supported: str, dialect_hint: str) -> None:
        self.driver = driver
        self.supported = supported
        self.dialect_hint = dialect_hint
        self._bound: ContextVar[Mapping[int, Callable[[], C]]] = ContextVar(
            f"backburner_{name}_transaction", default=MappingProxyType({})
        )

    def resolver(self, obj: object) -> Callable[[], C]:
        """How to reach the driver connection inside `obj`; TypeError if it has none."""
        if isinstance(obj, self.driver):
            conn = obj
            return lambda: conn
        if "sqlalchemy" in sys.modules:  # an SQLAlchemy object implies SQLAlchemy is imported
            found = self._sqlalchemy_resolver(obj)
            if found is not None:
                return found
        raise TypeError(f"transaction() needs {self.supported}; got {type(obj).__qualname__}")

    def _sqlalchemy_resolver(self, obj: object) -> Callable[[], C] | None:
        from sqlalchemy.engine import Connection as SAConnection
        from sqlalchemy.orm import Session, scoped_session

        if isinstance(obj, (Session, scoped_session)):
            session = obj
            # session.connection() starts the session's transaction if needed, and returns
            # the connection that transaction runs on
            return lambda: self._driver(session.connection())
        if isinstance(obj, SAConnection):
            sa_conn = obj

            def current() -> C:
                if not sa_conn.in_transaction():
                    # begin as SQLAlchemy would on its first statement, so its commit() and
                    # rollback() end the transaction our INSERT runs in
                    sa_conn.begin()
                return self._driver(sa_conn)

            return current
        return None

    def _driver(self, sa_conn: Any) -> C:
        dbapi = sa_conn.connection.driver_connection
        if not isinstance(dbapi, self.driver):
            dialect = f"{sa_conn.dialect.name}+{sa_conn.dialect.driver}"
            raise TypeError(
                f"transaction() needs {self.supported}; this SQLAlchemy connection uses the "
                f"{dialect} dialect: {self.dialect_hint}"
            )
        return dbapi

    @contextmanager
    def bind(self, key: int, resolve: Callable[[], C]) -> Iterator[None]:
        """Within the block, `bound(key)` returns `resolve` in this context."""
        token = self._bound.set(MappingProxyType({**self._bound.get(), key: resolve}))
        try:
            yield
        finally:
            self._bound.reset(token)

    def bound(self, key: int) -> Callable[[], C] | None:
        """The resolver bound to `key` in this context, if inside a transaction() block."""
        return self._bound.get().get(key)
