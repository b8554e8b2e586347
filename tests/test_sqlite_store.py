"""What only the SQLite store promises: URL options, schema checks, durability, fork safety."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from backburner.errors import SchemaError, StoreUnavailable
from backburner.job import FINISHED, JobStatus
from backburner.stores import open_store, sqlite
from backburner.stores.sqlite import SQLiteStore

from .conformance.records import make


def test_relative_and_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel.db")
    assert isinstance(relative, SQLiteStore) and relative.path == "rel.db"
    relative.enqueue([make()])
    assert (tmp_path / "rel.db").exists()
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert absolute.path == f"{tmp_path}/abs.db"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///:memory:", "memory://"),
        ("sqlite://", "sqlite:///relative"),
        ("sqlite:///x.db?journal=off", "unknown SQLite URL option"),
        ("sqlite:///x.db?synchronous=extra", "full or normal"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match=f"folder '{tmp_path}/nope' does not exist"):
        open_store(f"sqlite:///{tmp_path}/nope/jobs.db")


def test_wal_and_durability_settings(tmp_path: Path) -> None:
    full = open_store(f"sqlite:///{tmp_path}/a.db")
    normal = open_store(f"sqlite:///{tmp_path}/b.db?synchronous=normal&busy_timeout=5")
    for name, store, expected in (("a", full, 2), ("b", normal, 1)):
        store.counts()  # opens the file
        with sqlite3.connect(tmp_path / f"{name}.db") as other:  # WAL is the file's own mode
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # synchronous belongs to each connection: only the store's own can tell
        conn = store._conn()  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == expected
    assert normal.busy_timeout == 5.0  # type: ignore[attr-defined]


def test_the_database_and_its_wal_and_shm_are_private_whatever_the_umask(tmp_path: Path) -> None:
    files = ("jobs.db", "jobs.db-wal", "jobs.db-shm")
    previous = os.umask(0)  # the most permissive umask: files would be world-writable
    try:
        store = open_store(f"sqlite:///{tmp_path}/jobs.db")
        store.enqueue([make()])  # job arguments are now in the files
        modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in files}
        store.close()
    finally:
        os.umask(previous)
    assert modes == dict.fromkeys(files, 0o600)


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the wake-up sockets go under, in place of the shared temp dir."""
    shared = tmp_path / "run"
    shared.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    return shared


def test_the_wakeup_folders_are_created_private_whatever_the_umask(
    tmp_path: Path, runtime_dir: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    previous = os.umask(0)
    try:
        store.wait_for_work(None, 0.01)  # a waiter makes the folders
    finally:
        os.umask(previous)
    mine = runtime_dir / f"backburner-{os.getuid()}"
    folders = [mine, *mine.iterdir()]
    assert len(folders) == 2
    assert {stat.S_IMODE(f.stat().st_mode) for f in folders} == {0o700}
    store.close()


def test_a_wakeup_folder_of_ours_that_others_can_only_read_is_closed_and_used(
    tmp_path: Path, runtime_dir: Path
) -> None:
    older = runtime_dir / f"backburner-{os.getuid()}"
    older.mkdir()
    older.chmod(0o755)  # as older versions left it, with the usual umask
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    store.wait_for_work(None, 0.01)
    assert stat.S_IMODE(older.stat().st_mode) == 0o700
    older.chmod(0o775)  # and with umask 002, common for users with a group of their own
    store.close()
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    store.wait_for_work(None, 0.01)
    assert stat.S_IMODE(older.stat().st_mode) == 0o700
    store.close()


def test_a_wakeup_folder_open_to_other_users_is_refused(tmp_path: Path, runtime_dir: Path) -> None:
    planted = runtime_dir / f"backburner-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)  # as another user would leave it, to plant or swap sockets
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    with pytest.raises(StoreUnavailable, match=rf"wake-up folder '{planted}'.*0o777.*remove it"):
        store.wait_for_work(None, 0.01)
    store.enqueue([make()])  # producers are not stopped by it: they only skip the wake-up
    assert store.counts() == {"default": {JobStatus.QUEUED: 1}}
    store.close()


def test_a_wakeup_folder_of_another_user_is_refused(
    tmp_path: Path, runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (runtime_dir / f"backburner-{os.getuid()}").mkdir(mode=0o700)
    someone_else = os.geteuid() + 1
    # seen from a process running as another user, the folder we made is not its own
    monkeypatch.setattr(os, "geteuid", lambda: someone_else)
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    with pytest.raises(StoreUnavailable, match=r"belongs to uid \d+, not to this user"):
        store.wait_for_work(None, 0.01)
    store.close()


def test_newer_schema_is_refused_and_nothing_is_touched(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = open_store(f"sqlite:///{path}")
    store.enqueue([make()])
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaError, match=r"schema v99.*upgrade backburner"):
        open_store(f"sqlite:///{path}").counts()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM bb_jobs").fetchone()[0] == 1


def test_claim_uses_the_claim_index(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    store.enqueue([make()])
    conn = sqlite3.connect(tmp_path / "jobs.db")
    for sql, params in (
        (sqlite._CLAIM_ARM, ("default", 1.0, 1.0, 5)),  # one queue's due jobs, in order
        (sqlite._QUEUED_IN, ()),  # the queues holding queued jobs
    ):
        plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        text = " ".join(str(row[-1]) for row in plan)
        assert "bb_jobs_claim_queue" in text and "TEMP B-TREE" not in text, text


@pytest.mark.parametrize(
    "statuses",
    [FINISHED, {JobStatus.FAILED}, {JobStatus.SUCCEEDED, JobStatus.CANCELLED}],
)
def test_purge_and_result_expiry_find_finished_jobs_by_index_not_a_table_scan(
    tmp_path: Path, statuses: set[JobStatus]
) -> None:
    """Every worker's result expiry purges each minute, in write transactions: a scan of
    a million jobs there held the write lock for up to a second (issue 20)."""
    open_store(f"sqlite:///{tmp_path}/jobs.db").migrate()
    conn = sqlite3.connect(tmp_path / "jobs.db")
    plan = conn.execute(f"EXPLAIN QUERY PLAN {sqlite.purge_sql(statuses)}", (1.0,)).fetchall()
    text = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH bb_jobs USING INDEX bb_jobs_finished" in text, text
    assert "SCAN bb_jobs" not in text, text


def test_an_enqueue_writes_two_indexes_and_older_files_lose_the_retired_one(
    tmp_path: Path,
) -> None:
    """Each index is written by every durable enqueue: the table and the id, plus the
    claim index, and no more for a job without a unique key (issue 20)."""
    path = tmp_path / "jobs.db"
    open_store(f"sqlite:///{path}").migrate()
    conn = sqlite3.connect(path)
    always = [
        name
        for name, where in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'bb_jobs'"
        )
        if where is None or ("status = 'queued'" in where and "IS NOT NULL" not in where)
    ]
    assert sorted(always) == ["bb_jobs_claim_queue", "sqlite_autoindex_bb_jobs_1"]
    conn.execute("CREATE INDEX bb_jobs_claim ON bb_jobs (priority DESC, run_at, seq)")
    conn.commit()
    store = open_store(f"sqlite:///{path}")
    store.enqueue([make()])
    names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "bb_jobs_claim" not in names
    assert len(store.claim(None, "w", 5, 30)) == 1


def test_connections_are_reopened_after_fork(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    parent_job = make()
    store.enqueue([parent_job])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: use the inherited store object
        try:
            child_job = make("from-child")
            ok = store.enqueue([child_job]) == [child_job.id] and store.get(parent_job.id)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    counts = store.counts()
    assert counts == {"default": {JobStatus.QUEUED: 2}}


def test_purge_works_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("backburner.stores.sqlite.PURGE_BATCH", 7)
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    store.enqueue([make() for _ in range(30)])
    for job in store.claim(None, "w", 30, 60):
        store.complete(job.id, job.token, None)
    store.enqueue([make()])
    assert store.purge() == 30
    assert store.counts() == {"default": {JobStatus.QUEUED: 1}}


def test_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    store.enqueue([make()])

    def use() -> None:
        store.counts()

    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(100):  # a thread per request, as Werkzeug's threaded server does
        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
    assert len(os.listdir("/proc/self/fd")) - fds < 10
    assert store.counts() == {"default": {JobStatus.QUEUED: 1}}


def _open_and_enqueue(url: str, start: Any) -> None:
    store = open_store(url)
    start.wait()  # every process opens the fresh file at the same moment
    store.enqueue([make()])


def test_processes_creating_a_fresh_database_together(tmp_path: Path) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    for attempt in range(10):  # the race is narrow: try it a few times
        url = f"sqlite:///{tmp_path}/fresh{attempt}.db"
        start = ctx.Barrier(6)
        procs = [ctx.Process(target=_open_and_enqueue, args=(url, start)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 6
        assert open_store(url).counts() == {"default": {JobStatus.QUEUED: 6}}


def test_only_a_duplicate_id_is_reported_as_already_stored(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    job = make()
    store.enqueue([job])
    with pytest.raises(ValueError, match="already stored"):
        store.enqueue([job])
    # a NaN time reaches SQLite as NULL: that is no clash of ids, and says what it is
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        store.enqueue([make(run_at=float("nan"))])
    assert len(store.list_jobs()) == 1
    store.close()


@pytest.mark.parametrize("named", [False, True], ids=["every-queue", "named-queues"])
def test_a_claim_on_more_queues_than_sqlite_merges_keeps_the_order(
    tmp_path: Path, named: bool
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/jobs.db")
    count = sqlite.MERGED_QUEUES + 20
    jobs = [make(queue=f"q{i:03d}", priority=i % 7) for i in range(count)]
    store.enqueue(jobs)
    queues = [f"q{i:03d}" for i in range(count)] if named else None
    expected = [j.id for j in sorted(jobs, key=lambda j: -j.priority)][:30]  # stable: FIFO
    claimed = store.claim(queues, "w", 30, 30)
    assert [r.id for r in claimed] == expected
    assert len(store.claim(queues, "w", 1000, 30)) == count - 30
