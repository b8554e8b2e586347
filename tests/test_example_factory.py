"""examples/factory/: its README's commands, run exactly as written, on every store."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from backburner.urls import redact

from .helpers import SRC, TESTS, wait_until

EXAMPLE = TESTS.parent / "examples" / "factory"
# what the test needs from the README, by how each command starts
WANTED = {"worker": ["backburner", "worker"], "status": ["backburner", "status"]}
WANTED["tests"] = ["python", "-m", "pytest"]


def readme_commands() -> dict[str, list[str]]:
    """The README's shell commands, one per purpose in WANTED, as argument lists."""
    text = (EXAMPLE / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    found = {}
    for purpose, start in WANTED.items():
        matching = [c for c in commands if c[: len(start)] == start]
        assert len(matching) == 1, f"the README should give one `{' '.join(start)}` command"
        found[purpose] = matching[0]
    return found


def shop_modules() -> list[str]:
    return [name for name in sys.modules if name == "shop" or name.startswith("shop.")]


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None for the example's own default (SQLite), else a server-backed URL."""
    if request.param == "sqlite":
        return None
    fixture = "redis_store_url" if request.param == "redis" else "postgres_store_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the example, importable here as `shop`, and the environment its commands
    run in: this virtualenv's commands first on PATH, this checkout's backburner, and
    $BACKBURNER_URL only when the store is switched."""
    folder = tmp_path / "factory"
    shutil.copytree(
        EXAMPLE, folder, ignore=shutil.ignore_patterns("instance", "__pycache__", ".pytest_cache")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKBURNER_", "FLASK_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(SRC)
    monkeypatch.delenv("BACKBURNER_URL", raising=False)
    if store_url is not None:
        env["BACKBURNER_URL"] = store_url
        monkeypatch.setenv("BACKBURNER_URL", store_url)
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])
    for name in shop_modules():
        monkeypatch.delitem(sys.modules, name)
    yield folder, env
    extensions = sys.modules.get("shop.extensions")
    if extensions is not None:
        extensions.bb.close()
    for name in shop_modules():
        del sys.modules[name]


def run(command: list[str], folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def stop(proc: subprocess.Popen[Any]) -> int:
    """SIGTERM the worker and wait for it; SIGKILL its whole group if it does not stop."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_readme_commands_run_the_shop(
    shop: tuple[Path, dict[str, str]], store_url: str | None
) -> None:
    folder, env = shop
    commands = readme_commands()
    module: Any = importlib.import_module("shop")
    client = module.create_app().test_client()
    bb = module.bb
    answer = client.post("/orders/42/receipt")
    assert answer.status_code == 202
    status_url = answer.get_json()["status_url"]

    log_path = folder / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            commands["worker"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: client.get(status_url).get_json()["status"] == "succeeded", 60)
        wait_until(lambda: bb.store.list_workers(alive_since=time.time() - 60), 30)
        status = run(commands["status"], folder, env)
        assert status.returncode == 0, status.stderr
        assert re.search(r"^receipts +0 +0 +0 +0 +1 ", status.stdout, re.M), status.stdout
        assert f" {worker.pid} " in status.stdout, "the live worker is listed"
    finally:
        assert stop(worker) == 0, log_path.read_text()

    log_text = log_path.read_text()
    assert "tasks shop.tasks.send_receipt" in log_text
    if store_url is None:
        assert f"file {folder}/instance/shop.db" in log_text
        assert not (folder / "backburner.db").exists()
    else:
        assert redact(store_url) in log_text

    tests = run(commands["tests"], folder, env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
