"""`bb.transaction()` on SQLite (the caller's own transaction), memory:// and eager mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backburner import Backburner, JobStatus
from backburner.testing import drain, eager


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Backburner, Path, Any]]:
    """A Backburner whose jobs live in the app's own SQLite file, and a task."""
    path = tmp_path / "app.db"
    bb = Backburner(f"sqlite:///{path}")

    @bb.task(expose_result=True)
    def receipt(order_id: int) -> str:
        return f"receipt {order_id}"

    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    yield bb, path, receipt
    bb.close()


def test_sqlite_jobs_join_the_callers_sqlite3_transaction(db: Any) -> None:
    bb, path, receipt = db
    conn = sqlite3.connect(path)
    with bb.transaction(conn):
        conn.execute("INSERT INTO orders (id) VALUES (1)")
        kept = receipt.delay(1)
    assert bb.get_job(kept.id) is None, "not visible before the caller commits"
    conn.commit()
    assert bb.get_job(kept.id) is not None
    with bb.transaction(conn):
        conn.execute("INSERT INTO orders (id) VALUES (2)")
        dropped = receipt.delay(2)
    conn.rollback()
    assert bb.get_job(dropped.id) is None
    assert conn.execute("SELECT id FROM orders").fetchall() == [(1,)]
    conn.close()
    assert drain(bb) == 1 and kept.refresh().result == "receipt 1"


def test_sqlite_jobs_join_a_sqlalchemy_session_on_the_same_file(db: Any) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session

    bb, path, receipt = db
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    insert = sqlalchemy.text("INSERT INTO orders (id) VALUES (:id)")
    with Session(engine) as session:
        with bb.transaction(session):
            session.execute(insert, {"id": 7})
            kept = receipt.delay(7)
        session.commit()
        with bb.transaction(session):
            session.execute(insert, {"id": 8})
            dropped = receipt.delay(8)
        session.rollback()
    engine.dispose()
    assert bb.get_job(kept.id) is not None and bb.get_job(dropped.id) is None


def test_an_autocommit_connection_commits_the_jobs_at_once(db: Any) -> None:
    bb, path, receipt = db
    conn = sqlite3.connect(path, isolation_level=None)
    with bb.transaction(conn):
        job = receipt.delay(3)
        assert bb.get_job(job.id) is not None
    conn.close()


def test_a_connection_to_another_file_is_refused_with_the_fix(db: Any, tmp_path: Path) -> None:
    bb, _, _ = db
    other = sqlite3.connect(tmp_path / "other.db")
    with pytest.raises(ValueError, match=r"other\.db.*same file.*sqlite:///"):
        bb.transaction(other)
    with pytest.raises(ValueError, match="in-memory database"):
        bb.transaction(sqlite3.connect(":memory:"))
    other.close()


def test_memory_stores_the_blocks_jobs_only_when_it_exits_cleanly() -> None:
    bb = Backburner("memory://")

    @bb.task
    def t(n: int) -> int:
        return n

    with bb.transaction(object()):
        kept = t.delay(1)
        assert bb.get_job(kept.id) is None, "held until the block ends"
    assert bb.get_job(kept.id) is not None
    with pytest.raises(RuntimeError), bb.transaction(object()):
        dropped = t.delay(2)
        raise RuntimeError("the request failed")
    assert bb.get_job(dropped.id) is None


def test_eager_jobs_in_a_transaction_run_when_it_exits_cleanly(db: Any) -> None:
    bb, path, receipt = db
    conn = sqlite3.connect(path)
    with eager(bb):
        with bb.transaction(conn):
            job = receipt.delay(4)
            assert bb.get_job(job.id) is None, "held until the block ends"
        stored = bb.get_job(job.id)
        assert stored is not None and stored.status is JobStatus.SUCCEEDED
        with pytest.raises(RuntimeError), bb.transaction(conn):
            dropped = receipt.delay(5)
            raise RuntimeError("the request failed")
    assert bb.get_job(dropped.id) is None
    conn.close()
