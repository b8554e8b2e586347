"""What a task may be: functions a worker can find by name, and `async def` functions."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from backburner import Backburner, JobStatus, current_job
from backburner.testing import drain, eager


@pytest.fixture(params=["memory", "sqlite"])
def bb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backburner]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/jobs.db"
    app = Backburner(url)
    yield app
    app.close()


# -- what a worker can find ------------------------------------------------------------
def test_a_lambda_is_refused_unless_named(bb: Backburner) -> None:
    with pytest.raises(TypeError, match=r"lambda.*define it with def at module level"):
        bb.task(lambda: None)
    with pytest.raises(TypeError, match="lambda"):
        bb.task(retries=1)(lambda: None)
    named = bb.task(name="double")(lambda x: 2 * x)
    assert named(4) == 8


def test_a_task_registered_while_a_request_is_handled_is_refused(bb: Backburner) -> None:
    def handler() -> None: ...

    refused = pytest.raises(TypeError, match=r"while a request is being handled.*module level")
    with Flask(__name__).test_request_context("/"), refused:
        bb.task(handler)
    assert bb.tasks == {}


def test_a_task_registered_inside_a_job_is_refused(bb: Backburner) -> None:
    @bb.task
    def registers() -> str:
        def inner() -> None: ...

        try:
            bb.task(inner)
        except TypeError as exc:
            return str(exc)
        return "accepted"

    job = registers.delay()
    drain(bb)
    assert "while a job is being handled" in str(job.refresh().result)


def test_a_nested_function_registered_during_an_import_is_accepted(
    bb: Backburner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker imports the module and runs the same module-level call, so it finds them."""
    (tmp_path / "nestedtasks.py").write_text(
        "from backburner import Backburner\n"
        "\n"
        "def build(url):\n"
        "    bb = Backburner(url)\n"
        "\n"
        "    @bb.task\n"
        "    def inner():\n"
        "        return 'ran'\n"
        "\n"
        "    bb.task(name='named')(lambda: 'also')\n"
        "    return bb\n"
        "\n"
        f"bb = build({bb.url!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("nestedtasks")
    try:
        assert sorted(module.bb.tasks) == ["named", "nestedtasks.build.<locals>.inner"]
        job = module.bb.tasks["nestedtasks.build.<locals>.inner"].delay()
        drain(module.bb)
        assert job.refresh().result == "ran"
    finally:
        module.bb.close()
        del sys.modules["nestedtasks"]


# -- async def tasks -------------------------------------------------------------------
def test_an_async_task_runs_to_completion_with_progress_and_its_job(bb: Backburner) -> None:
    @bb.task
    async def fetch(n: int) -> dict[str, object]:
        await asyncio.sleep(0)
        current_job.set_progress(n, n, "fetched")
        return {"job": current_job.id, "loop": id(asyncio.get_running_loop())}

    first, second = fetch.delay(1), fetch.delay(2)
    assert drain(bb) == 2
    for job in (first, second):
        assert job.refresh().status is JobStatus.SUCCEEDED
        assert job.result["job"] == job.id
    assert second.progress == {"done": 2, "total": 2, "message": "fetched"}
    assert first.result["loop"] == second.result["loop"]  # reused


def test_calling_an_async_task_returns_a_coroutine_and_eager_runs_it(bb: Backburner) -> None:
    @bb.task(retries=1)
    async def add(x: int, y: int) -> int:
        await asyncio.sleep(0)
        if current_job.attempt == 1 and x < 0:
            raise ValueError("negative")
        return x + y

    coroutine = add(1, 2)
    assert asyncio.iscoroutine(coroutine)
    assert asyncio.run(coroutine) == 3
    with eager(bb):
        assert add.delay(2, 3).result == 5
        retried = add.delay(-1, 3)
        assert retried.status is JobStatus.SUCCEEDED and retried.attempts == 2


def test_an_eager_async_task_runs_from_inside_a_running_loop(bb: Backburner) -> None:
    @bb.task
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def view() -> object:
        with eager(bb):
            return answer.delay().result

    assert asyncio.run(view()) == 42
