"""The app-factory layout: `backburner worker` finds the app's store, not the default one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask

from backburner import Backburner
from backburner.flask import bound_app
from backburner.loader import AppNotFound, load_backburner

from .helpers import SRC

# The layout: a module-level Backburner without a URL, the URL set in create_app().
FACTORY_APP = """
from flask import Flask

from backburner import Backburner

bb = Backburner()


@bb.task(name="hello", expose_result=True)
def hello(name):
    return "hello " + name


def create_app({signature}):
    app = Flask(__name__)
    app.config["BACKBURNER_URL"] = "sqlite:///jobs.db"
    {body}
    return app
"""


def write_app(folder: Path, signature: str = "", body: str = "bb.init_app(app)") -> None:
    (folder / "factoryapp.py").write_text(FACTORY_APP.format(signature=signature, body=body))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder on sys.path, the current folder elsewhere, no $BACKBURNER_URL;
    `factoryapp` is imported fresh by each test and forgotten after it."""
    folder = tmp_path / "project"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.delenv("BACKBURNER_URL", raising=False)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])  # the loader adds the cwd too
    monkeypatch.delitem(sys.modules, "factoryapp", raising=False)
    yield folder
    module = sys.modules.pop("factoryapp", None)
    if isinstance(module, ModuleType):
        module.bb.close()


def expected_url(project: Path) -> str:
    return f"sqlite:///{project}/instance/jobs.db"


def test_a_backburner_without_url_is_configured_by_the_app_factory_next_to_it(
    project: Path,
) -> None:
    write_app(project)
    bb = load_backburner("factoryapp:bb")
    assert bb.url == expected_url(project), "the app's store, not sqlite:///backburner.db"
    assert bound_app(bb) is not None, "jobs run in the factory's app context"


def test_a_module_alone_is_searched_for_a_factory_first(project: Path) -> None:
    write_app(project)
    bb = load_backburner("factoryapp")
    assert bb.url == expected_url(project)
    assert bb.url_source == "Flask config"


@pytest.mark.parametrize(
    ("signature", "body", "why", "fix"),
    [
        (
            "config",
            "bb.init_app(app)",
            "needs argument(s) config",
            "Give them defaults, so `backburner worker factoryapp` can call it",
        ),
        ("", "raise RuntimeError('no database')", "raised RuntimeError: no database", "Fix it"),
        ("", "pass", "did not call bb.init_app(app) with it", "Call bb.init_app(app) in it"),
    ],
)
def test_a_factory_that_cannot_configure_the_backburner_is_an_error_naming_the_fix(
    project: Path, signature: str, body: str, why: str, fix: str
) -> None:
    write_app(project, signature, body)
    with pytest.raises(AppNotFound) as caught:
        load_backburner("factoryapp:bb")
    message = str(caught.value)
    assert "would use the default sqlite:///backburner.db" in message
    assert f"factoryapp:create_app() {why}. {fix}, or give the store URL" in message
    assert "Backburner(url) or $BACKBURNER_URL" in message
    with pytest.raises(AppNotFound, match=r"factoryapp:create_app\(\)"):
        load_backburner("factoryapp")  # the module alone: the same factory, the same trouble


def test_a_backburner_with_its_own_url_is_left_alone(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(project, "config", "bb.init_app(app)")  # unusable, and never called
    monkeypatch.setenv("BACKBURNER_URL", "memory://")
    assert load_backburner("factoryapp:bb").url == "memory://"


def test_relative_sqlite_paths_live_in_the_apps_instance_folder(tmp_path: Path) -> None:
    bb = Backburner("memory://")

    @bb.task(name="noop")
    def noop() -> None: ...

    app = Flask("factoryapp", instance_path=str(tmp_path / "instance"))
    app.config["BACKBURNER_URL"] = "sqlite:///jobs.db?synchronous=normal"
    bb.init_app(app)
    path = tmp_path / "instance" / "jobs.db"
    assert bb.url == app.config["BACKBURNER_URL"] == f"sqlite:///{path}?synchronous=normal"
    noop.delay()
    assert path.exists(), "created in the instance folder, whatever the current folder"
    bb.close()


def run_worker(project: Path, app: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}
    return subprocess.run(
        [sys.executable, "-m", "backburner", "worker", app, "--burst", "-p", "1"],
        cwd=project,
        env={**env, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("app", ["factoryapp:bb", "factoryapp"])
def test_the_worker_runs_the_apps_jobs_and_logs_its_store_and_tasks(
    project: Path, app: str
) -> None:
    write_app(project)
    module = __import__("factoryapp")
    module.create_app()
    job = module.hello.delay("ada")
    done = run_worker(project, app)
    assert done.returncode == 0, done.stderr
    assert job.refresh().result == "hello ada", done.stderr
    assert f"file {project}/instance/jobs.db" in done.stderr
    assert "tasks hello" in done.stderr
    assert not (project / "backburner.db").exists()
