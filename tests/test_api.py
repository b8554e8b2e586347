"""The public API as users call it, on the memory and SQLite stores."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import backburner
from backburner import Backburner, JobFailed, JobRecord, JobStatus, Retry, current_job
from backburner.errors import BackburnerError, MissingExtra
from backburner.stores import open_store
from backburner.testing import drain, eager

from .helpers import wait_until


@pytest.fixture(params=["memory", "sqlite"])
def bb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backburner]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/jobs.db"
    app = Backburner(url)
    yield app
    app.close()


def test_public_names() -> None:
    for name in [
        "Backburner",
        "Retry",
        "JobFailed",
        "current_job",
        "JobStatus",
        "BackburnerError",
        "Job",
    ]:
        assert name in backburner.__all__ and hasattr(backburner, name)


def test_job_ids_are_uuid7s_that_sort_in_the_order_jobs_were_made(bb: Backburner) -> None:
    # time-ordered ids go to the right edge of the stores' id index as it grows
    @bb.task
    def noop(n: int) -> None:
        pass

    def next_millisecond(after: int) -> Callable[[], bool]:
        return lambda: time.time_ns() // 1_000_000 > after

    ids = []
    for n in range(5):
        ids.append(noop.delay(n).id)
        # the next job in a later millisecond: ids within one are ordered only by chance
        wait_until(next_millisecond(time.time_ns() // 1_000_000), interval=0.0005)
    ids += [job.id for job in noop.map([(n,) for n in range(5)])]
    assert ids[:5] == sorted(ids[:5]) and all(ids[4] < later for later in ids[5:])
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert parsed.version == 7 and parsed.hex == job_id
    assert len(set(ids)) == len(ids)


def test_delay_persists_and_drain_runs_it(bb: Backburner) -> None:
    @bb.task
    def add(x: int, y: int) -> int:
        return x + y

    job = add.delay(1, y=2)
    assert job.status is JobStatus.QUEUED and len(job.id) == 32
    fetched = bb.get_job(job.id)
    assert fetched is not None and fetched.task == add.name
    assert add.name.startswith(f"{__name__}.") and add.name.endswith(".add")
    assert drain(bb) == 1
    assert job.refresh().status is JobStatus.SUCCEEDED
    assert job.result == 3 and job.wait(timeout=1) == 3
    assert bb.get_job("nope") is None


def test_job_ids_are_random_not_sequential(bb: Backburner) -> None:
    @bb.task
    def noop() -> None: ...

    ids = [noop.delay().id for _ in range(50)]
    assert len(set(ids)) == 50
    # the leading 48 bits are the time (see the uuid7 test); what follows is random
    assert len({i[20:28] for i in ids}) > 40


def test_plain_call_runs_inline(bb: Backburner) -> None:
    @bb.task(retries=0)
    def double(x: int) -> int:
        assert current_job.id is None and current_job.attempt == 0
        current_job.set_progress(1, 2)  # no-op outside a job
        return x * 2

    assert double(21) == 42
    assert bb.store.counts() == {}


def test_bad_arguments_raise_type_error_and_store_nothing(bb: Backburner) -> None:
    @bb.task
    def send(to: str, when: dt.datetime, tags: list[str]) -> None: ...

    with pytest.raises(TypeError, match=r"argument 'tags' \(position 3\) has type set"):
        send.delay("a@b.c", dt.datetime.now(), {"x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"argument 'tags'\['k'\] has type object"):
        send.delay("a", dt.datetime.now(), tags={"k": object()})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="missing a required argument"):
        send.delay("a")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        send.delay("a", dt.datetime.now(), [], color=1)  # type: ignore[call-arg]
    assert bb.store.counts() == {}


def test_argument_count_is_checked_like_a_call(bb: Backburner) -> None:
    @bb.task
    def pair(a: int, b: int = 2) -> int:
        return a + b

    @bb.task
    def star(*args: int, **kwargs: int) -> int:
        return len(args) + len(kwargs)

    @bb.task
    def keyword_only(a: int, *, b: int) -> int:
        return a + b

    with pytest.raises(TypeError, match="missing a required argument"):
        pair.delay()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="too many positional arguments"):
        pair.delay(1, 2, 3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing a required argument: 'b'"):
        keyword_only.delay(1)  # type: ignore[call-arg]
    assert bb.store.counts() == {}
    pair.delay(1)
    pair.delay(1, 2)
    pair.delay(1, b=5)
    star.delay()
    star.delay(1, 2, 3, x=4)
    keyword_only.delay(1, b=2)
    assert bb.store.counts()["default"][JobStatus.QUEUED] == 6


def test_schedule_with_delay_and_at(bb: Backburner) -> None:
    @bb.task
    def ping() -> str:
        return "pong"

    later = ping.schedule(delay=dt.timedelta(hours=1))
    at = ping.schedule(at=time.time() + 3600)
    soon = ping.schedule(delay=0.2)
    aware = ping.schedule(at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=0.2))
    for job in (later, at, soon, aware):
        assert job.status is JobStatus.SCHEDULED
    assert drain(bb) == 0
    ran: list[int] = []

    def both_ran() -> bool:
        ran.append(drain(bb))
        return sum(ran) >= 2

    wait_until(both_ran, timeout=10)
    assert sum(ran) == 2
    assert later.refresh().status is JobStatus.SCHEDULED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"delay": 1, "at": 1}, "exactly one"),
        ({"delay": -1}, "delay must be"),
        ({"at": dt.datetime(2030, 1, 1)}, "naive datetime"),
        ({"at": "tomorrow"}, "Unix timestamp"),
    ],
)
def test_schedule_rejects_bad_times(bb: Backburner, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    @bb.task
    def ping() -> None: ...

    with pytest.raises(ValueError, match=message):
        ping.schedule(**kwargs)


def test_options_override_per_call(bb: Backburner) -> None:
    @bb.task(queue="low", priority=1, retries=5)
    def work(n: int) -> int:
        return n

    job = work.options(queue="high", priority=9, retries=0).delay(1)
    record = job.record
    assert (record.queue, record.priority, record.max_attempts) == ("high", 9, 1)
    assert work.queue == "low"  # the task itself is unchanged
    with pytest.raises(TypeError, match="unknown or fixed option"):
        work.options(colour="red")
    with pytest.raises(TypeError, match="unknown or fixed option"):
        work.options(name="other")
    with pytest.raises(ValueError, match="retries must be"):
        work.options(retries=-1)


def test_unique_key_returns_the_live_job(bb: Backburner) -> None:
    @bb.task
    def report(n: int) -> int:
        return n

    first = report.options(unique_key="report").delay(1)
    again = report.options(unique_key="report").delay(2)
    assert again.id == first.id
    drain(bb)
    assert report.options(unique_key="report").delay(3).id != first.id


def test_failures_retries_and_wait(bb: Backburner) -> None:
    @bb.task(retries=2)
    def flaky() -> int:
        if current_job.attempt < 3:
            raise RuntimeError(f"attempt {current_job.attempt}")
        return current_job.attempt

    @bb.task(retries=1)
    def broken() -> None:
        raise Retry(delay=0)

    ok, bad = flaky.delay(), broken.delay()
    drain(bb)
    assert ok.wait(timeout=1) == 3 and ok.attempts == 3
    with pytest.raises(JobFailed) as info:
        bad.wait(timeout=1)
    assert info.value.job.id == bad.id  # type: ignore[attr-defined]
    assert bad.status is JobStatus.FAILED and (bad.error or "").startswith("Retry:")


def test_wait_times_out(bb: Backburner) -> None:
    @bb.task
    def idle() -> None: ...

    job = idle.delay()
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        job.wait(timeout=0.1)
    assert time.monotonic() - began < 1


def test_unstorable_result_fails_the_job_cleanly(bb: Backburner) -> None:
    @bb.task(retries=3)
    def bad_result() -> object:
        return {1, 2}

    job = bad_result.delay()
    drain(bb)
    job.refresh()
    assert job.status is JobStatus.FAILED and job.attempts == 1
    assert "ResultNotStorable" in (job.error or "") and "set" in (job.error or "")


def test_bad_payload_fails_only_that_job_and_an_unknown_task_waits_uncounted(
    bb: Backburner,
) -> None:
    @bb.task
    def fine() -> str:
        return "ok"

    ghost = JobRecord(id="ghost", task="gone.task", run_at=time.time(), created_at=time.time())
    garbled = JobRecord(
        id="garbled",
        task=fine.name,
        payload="{not json",
        run_at=time.time(),
        created_at=time.time(),
    )
    bb.store.enqueue([ghost, garbled])
    good = fine.delay()
    assert drain(bb) == 3
    for job_id, reason in (("garbled", "undecodable payload"),):
        record = bb.store.get(job_id)
        assert record is not None and record.status is JobStatus.FAILED
        assert record.attempts == 1 and reason in (record.error or "")
    assert good.refresh().result == "ok"
    # DESIGN.md, Guarantees: a job whose task this process does not know is not failed for
    # that: it waits in its queue uncounted, saying why, for a worker that knows the task
    ghost_record = bb.store.get("ghost")
    assert ghost_record is not None and ghost_record.status is JobStatus.SCHEDULED
    assert ghost_record.attempts == 0 and ghost_record.failures == ()
    assert "UnknownTask: not run" in (ghost_record.error or "")
    assert drain(bb) == 0  # due again later: not claimed and handed back in a loop


def test_cancel_pending_job(bb: Backburner) -> None:
    @bb.task
    def never() -> None:
        raise AssertionError("cancelled jobs must not run")

    job = never.delay()
    assert job.cancel() is True and job.status is JobStatus.CANCELLED
    assert drain(bb) == 0
    with pytest.raises(JobFailed, match="cancelled"):
        job.wait(timeout=1)


def test_progress_is_visible_on_the_job(bb: Backburner) -> None:
    @bb.task
    def steps(n: int) -> None:
        for i in range(n):
            current_job.set_progress(i + 1, n, f"step {i + 1}")

    job = steps.delay(5)
    drain(bb)
    assert job.refresh().progress == {"done": 5, "total": 5, "message": "step 5"}


def test_eager_mode_runs_inline_with_the_same_checks(bb: Backburner) -> None:
    @bb.task(retries=1)
    def sometimes(fail: bool) -> str:
        if fail:
            raise ValueError("no")
        current_job.set_progress(1, 1)
        return f"ran as attempt {current_job.attempt}"

    with eager(bb):
        job = sometimes.delay(False)
        assert job.status is JobStatus.SUCCEEDED and job.result == "ran as attempt 1"
        assert job.progress == {"done": 1, "total": 1, "message": None}
        failed = sometimes.delay(True)
        assert failed.status is JobStatus.FAILED and failed.attempts == 2
        with pytest.raises(TypeError, match="has type set"):
            sometimes.delay({1})  # type: ignore[arg-type]
    # issue 12 changed this: eager jobs are stored too (they used to leave the store empty)
    assert bb.store.counts() == {"default": {JobStatus.SUCCEEDED: 1, JobStatus.FAILED: 1}}
    assert Backburner("memory://", eager=True).eager


def test_duplicate_task_names_are_refused(bb: Backburner) -> None:
    @bb.task(name="same")
    def a() -> None: ...

    with pytest.raises(ValueError, match="already registered"):

        @bb.task(name="same")
        def b() -> None: ...


def test_task_option_validation(bb: Backburner) -> None:
    with pytest.raises(ValueError, match="timeout"):
        bb.task(timeout=0)(lambda: None)
    with pytest.raises(ValueError, match="queue"):
        bb.task(queue="")(lambda: None)


def test_store_url_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"redis://.*sqlite://"):
        Backburner("mysql://localhost/db")
    monkeypatch.setenv("BACKBURNER_URL", f"sqlite:///{tmp_path}/env.db")
    assert Backburner().url == f"sqlite:///{tmp_path}/env.db"
    monkeypatch.delenv("BACKBURNER_URL")
    assert Backburner().url == "sqlite:///backburner.db"
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(backburner.StoreUnavailable, match="does not exist"):
        _ = Backburner(f"sqlite:///{blocked}/jobs.db").store


def test_backburner_and_open_store_refuse_a_bad_url_the_same_way() -> None:
    with pytest.raises(ValueError) as from_backburner:
        Backburner("mysql://localhost/db")
    with pytest.raises(ValueError) as from_open_store:
        open_store("mysql://localhost/db")
    assert str(from_backburner.value) == str(from_open_store.value)
    bb = Backburner("memory://")
    with pytest.raises(ValueError, match=r"for example sqlite:///jobs\.db"):
        bb.url = "ftp://nope"
    assert bb.url == "memory://", "a refused URL changes nothing"


def test_a_missing_sqlite_folder_fails_when_the_backburner_is_created(tmp_path: Path) -> None:
    with pytest.raises(backburner.StoreUnavailable, match="nope' does not exist; create it"):
        Backburner(f"sqlite:///{tmp_path}/nope/jobs.db")
    bb = Backburner("memory://")
    with pytest.raises(backburner.StoreUnavailable, match="does not exist"):
        bb.url = f"sqlite:///{tmp_path}/nope/jobs.db"
    assert bb.url == "memory://", "a refused URL changes nothing"


def test_a_redis_url_option_typo_names_the_valid_options() -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match=r"unknown option 'bogus'.*valid are prefix, cluster"):
        Backburner("redis://127.0.0.1:6379/0?bogus=1")
    with pytest.raises(ValueError, match="did you mean socket_timeout"):
        Backburner("redis://127.0.0.1:6379/0?socket_timout=3")
    with pytest.raises(ValueError, match="use a rediss:// URL"):
        Backburner("redis://127.0.0.1:6379/0?ssl_ca_certs=/ca.pem")
    assert Backburner("rediss://127.0.0.1:6379/0?ssl_ca_certs=/ca.pem&prefix=app").url


def test_a_postgresql_url_option_typo_names_the_valid_options() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(ValueError, match=r"unknown option 'shema'.*did you mean schema\?") as bad:
        Backburner("postgresql://ada:hunter2@127.0.0.1/test?shema=jobs")
    assert "sslmode" in str(bad.value) and "pool_size" in str(bad.value)
    assert "hunter2" not in str(bad.value)
    ok = "postgresql://127.0.0.1/test?schema=jobs&sslmode=disable&application_name=web"
    assert Backburner(ok).url == ok


def test_a_missing_extra_fails_when_the_backburner_is_created() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from backburner import Backburner\n"
        "try:\n    Backburner('redis://localhost')\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "MissingExtra" in out.stdout and "pip install 'backburner[redis]'" in out.stdout


def test_transaction_on_a_store_that_cannot_join_one_says_which_can() -> None:
    # issue 12 changed this: memory:// and SQLite now support transaction(), so the
    # refusal is checked on Redis (which connects on first use: never here)
    pytest.importorskip("redis")
    bb = Backburner("redis://127.0.0.1:9/0")
    with pytest.raises(BackburnerError, match=r"Store \(redis://\).*PostgreSQL"):
        bb.transaction(object())
    with pytest.raises(BackburnerError, match=r"call delay\(\) after your transaction commits"):
        bb.store.transaction(object())


def test_transaction_refusal_does_not_show_the_store_password() -> None:
    pytest.importorskip("redis")
    store = open_store("redis://:hunter2@127.0.0.1:9/0")  # connects on first use: never here
    with pytest.raises(BackburnerError, match=r"RedisStore \(redis://\)") as refused:
        store.transaction(object())
    assert "hunter2" not in str(refused.value)
    store.close()


def test_missing_extra_names_the_pip_command() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from backburner import Backburner\n"
        "try:\n    Backburner('redis://localhost').store\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'backburner[redis]'" in out.stdout, out.stderr
    assert MissingExtra.__mro__[1].__name__ == "BackburnerError"


def test_type_checker_sees_task_signatures(tmp_path: Path) -> None:
    source = tmp_path / "typed.py"
    source.write_text(
        "from backburner import Backburner\n"
        "bb = Backburner('memory://')\n"
        "@bb.task\n"
        "def add(x: int, y: int) -> int:\n    return x + y\n"
        "@bb.task(retries=1)\n"
        "def greet(name: str) -> str:\n    return name\n"
        "add.delay(1, 2)\n"
        "add.delay(1, 'two')\n"
        "greet.delay(3)\n"
        "total: int = add(1, 2)\n"
        "wrong: str = add(1, 2)\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert [int(line.split(":")[1]) for line in errors] == [10, 11, 13], out.stdout


NAN, INF = float("nan"), float("inf")


def test_nan_and_infinity_are_refused_wherever_seconds_are_given(bb: Backburner) -> None:
    from backburner.worker.supervisor import WorkerConfig

    @bb.task
    def ping() -> None: ...

    refused: list[tuple[Callable[[], object], str]] = [
        (lambda: ping.schedule(delay=NAN), "delay must be a finite number"),
        (lambda: ping.schedule(delay=INF), "delay must be a finite number"),
        (lambda: ping.schedule(at=NAN), "finite Unix timestamp"),
        (lambda: ping.schedule(at=-INF), "finite Unix timestamp"),
        (lambda: ping.options(timeout=NAN), "timeout .* finite"),
        (lambda: ping.options(timeout=INF), "timeout .* finite"),
        (lambda: ping.options(retry_backoff=NAN), "retry_backoff must be a finite"),
        (lambda: Retry(delay=NAN), "delay must be a finite"),
        (lambda: Retry(delay=INF), "delay must be a finite"),
        (lambda: Backburner("memory://", retry_backoff=INF), "retry_backoff must be a finite"),
        (lambda: Backburner("memory://", lease=NAN), "lease must be a finite"),
        (lambda: Backburner("memory://", result_ttl=NAN), "result_ttl must be a finite"),
        (lambda: WorkerConfig(lease=INF), "lease must be finite"),
        (lambda: WorkerConfig(shutdown_timeout=NAN), "shutdown timeout must be finite"),
    ]
    for call, message in refused:
        with pytest.raises(ValueError, match=message):
            call()
    assert bb.store.list_jobs() == []


def test_progress_numbers_must_be_finite(bb: Backburner) -> None:
    seen: list[str] = []

    @bb.task
    def report() -> None:
        for done, total in ((NAN, 1.0), (1.0, INF), (INF, None)):
            try:
                current_job.set_progress(done, total)
            except ValueError as exc:
                seen.append(str(exc))

    job = report.delay()
    drain(bb)
    assert job.refresh().status is JobStatus.SUCCEEDED and job.progress is None
    assert len(seen) == 3 and all("finite number" in m for m in seen)


def test_values_past_what_every_store_holds_are_refused_at_the_api(bb: Backburner) -> None:
    from backburner import limits
    from backburner.worker.supervisor import WorkerConfig

    @bb.task
    def ping(value: object = None) -> None: ...

    refused: list[tuple[Callable[[], object], str]] = [
        (lambda: ping.options(priority=10**30), "priority must be an int from -2147483648"),
        (lambda: ping.options(priority=-(2**31) - 1), "priority must be an int from"),
        (lambda: ping.options(retries=2**31), "retries must be an int from 0 to 2147483646"),
        (lambda: ping.options(queue="mail\x00"), "queue .* control character"),
        (lambda: ping.options(queue="q" * 8000), "queue is 8000 bytes long .* at most 255"),
        (lambda: ping.options(unique_key="k" * 2**20), "unique_key is 1048576 bytes long"),
        (lambda: ping.options(unique_key="a\nb"), "unique_key .* control character"),
        (lambda: bb.task(name="x\x1b[31m")(lambda: None), "task name .* control character"),
        (lambda: Backburner("memory://", queue="é" * 200), "queue is 400 bytes long"),
        (lambda: WorkerConfig(queues=("ok", "\x00")), "queue .* control character"),
    ]
    for call, message in refused:
        with pytest.raises(ValueError, match=message):
            call()
    deep: list[object] = []
    for _ in range(limits.MAX_DEPTH):
        deep = [deep]
    with pytest.raises(TypeError, match=r"argument 'value'.*levels deep.*nothing was enqueued"):
        ping.delay(deep)
    edge = ping.options(
        priority=limits.MAX_PRIORITY,
        retries=limits.MAX_RETRIES,
        queue="q" * limits.MAX_NAME_BYTES,
        unique_key="k" * limits.MAX_UNIQUE_KEY_BYTES,
    ).delay()
    assert [r.id for r in bb.store.list_jobs()] == [edge.id]
    stored = bb.store.get(edge.id)
    assert stored is not None and stored.max_attempts == 2**31 - 1


def test_the_implicit_default_store_is_not_checked_until_it_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a module-level `bb = Backburner()` in a read-only working folder (a container, say)
    # whose app sets its real store later must import
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.chdir(locked)
    monkeypatch.delenv("BACKBURNER_URL", raising=False)
    monkeypatch.setattr("os.access", lambda path, mode: mode != os.W_OK)  # even as root
    bb = Backburner()
    assert bb.url_is_default
    bb.url = "memory://"
    assert bb.tasks == {}


def test_eager_transaction_stores_every_job_even_after_one_raises() -> None:
    bb = Backburner("memory://")

    @bb.task(name="bad", retries=0)
    def bad() -> None:
        raise RuntimeError("boom")

    @bb.task(name="good")
    def good() -> int:
        return 1

    with (
        pytest.raises(RuntimeError, match="boom"),
        eager(bb, raise_errors=True),
        bb.transaction(None),
    ):
        failed = bad.delay()
        fine = good.delay()
    assert bb.get_job(failed.id) is not None
    stored = bb.get_job(fine.id)
    assert stored is not None and stored.status is JobStatus.SUCCEEDED


def test_threads_using_a_new_backburner_at_once_share_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a threaded web server's first requests: each would open its own store (its own
    # pool, its own wake-ups) and all but one would be lost unclosed
    import threading

    from backburner import app as app_module

    opened: list[object] = []

    def slow_open(url: str, **options: object) -> object:
        time.sleep(0.05)  # widens the window two threads can both find no store in
        store = open_store(url, **options)
        opened.append(store)
        return store

    monkeypatch.setattr(app_module, "open_store", slow_open)
    bb = Backburner(f"sqlite:///{tmp_path}/jobs.db")
    start = threading.Barrier(8)
    seen: list[object] = []

    def use() -> None:
        start.wait()
        seen.append(bb.store)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 1
    assert all(s is opened[0] for s in seen)
    bb.close()
