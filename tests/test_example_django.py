"""examples/django/: orders placed through Django's test client, receipts sent by a real
`backburner worker mysite.worker`; on SQLite the job is enqueued on commit, on PostgreSQL
inside the order's own transaction. Rolled back, neither leaves a job."""

from __future__ import annotations

import importlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import django
import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.test import Client

from .helpers import SRC, TESTS, Start, wait_until

EXAMPLE = TESTS.parent / "examples" / "django"
GUIDE = TESTS.parent / "docs" / "guides" / "django.md"


class Rollback(Exception):
    """Raised in a test to roll its transaction back."""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The example imported here, Django set up once for this module (Django cannot be set
    up twice in a process): returns its `mysite.settings` module."""
    tz = os.environ.get("TZ")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DJANGO_SETTINGS_MODULE", "mysite.settings")
            patch.setenv("DATA_DIR", str(tmp_path_factory.mktemp("django")))
            patch.syspath_prepend(str(EXAMPLE))
            django.setup()
            yield importlib.import_module("mysite.settings")
            example("mysite.jobs").bb.close()
            connections.close_all()
    finally:
        # Django set $TZ to its TIME_ZONE: the tests after these get the machine's back
        if tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = tz
        time.tzset()


def example(module: str) -> Any:
    """A module of the example project (imported from EXAMPLE, on sys.path here)."""
    return importlib.import_module(module)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh job store; on PostgreSQL, Django's tables go in its schema too."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.sqlite3"
    url = str(request.getfixturevalue("postgres_store_url"))
    server = request.getfixturevalue("postgres_server")
    schema = request.getfixturevalue("postgres_schema")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # for `migrate`, before the store's tables
    return url


@pytest.fixture
def bb(
    project: Any, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The example's Backburner on this test's store, with Django's default database
    where the example's settings put it for that store, its tables migrated. The
    environment is the one `backburner worker` processes started by the test get."""
    bb = example("mysite.jobs").bb
    databases = {"default": project.database(store_url, tmp_path)}
    in_transaction = databases["default"]["ENGINE"].endswith("postgresql")
    # settings.py decides these from $BACKBURNER_URL at import; this process imported it
    # once, so each test points Django at its own database as Django's test runner does
    connections.close_all()
    monkeypatch.setattr(settings, "DATABASES", databases)
    monkeypatch.setattr(settings, "BACKBURNER_IN_TRANSACTION", in_transaction)
    monkeypatch.setattr(connections, "settings", connections.configure_settings(databases))
    with suppress(AttributeError):  # the connection made with the previous settings
        del connections["default"]
    call_command("migrate", verbosity=0)
    monkeypatch.setenv("BACKBURNER_URL", store_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    bb.url = store_url
    yield bb
    bb.close()
    connections.close_all()


def readme_command(start: str) -> str:
    """The one line of the README's shell blocks that starts with `start`."""
    text = (EXAMPLE / "README.md").read_text()
    blocks: list[str] = re.findall(r"```sh\n(.*?)```", text, re.S)
    matching = [line for block in blocks for line in block.splitlines() if line.startswith(start)]
    assert len(matching) == 1, f"the README should give one `{start}` command"
    return matching[0]


def start_worker(start: Start, bb: Any) -> Any:
    """The README's worker command (`backburner worker APP`), run with this test's store."""
    app = readme_command("backburner worker ").split()[2]
    return start(bb.url, app=app, cwd=EXAMPLE)


def status(client: Client, url: str) -> dict[str, Any]:
    answer = client.get(url)
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    return data


def test_a_placed_order_gets_its_receipt_from_a_worker(bb: Any, start: Start) -> None:
    Order = example("orders.models").Order

    client = Client()
    answer = client.post("/orders/", {"item": "tea"})
    assert answer.status_code == 202
    url = answer.json()["status_url"]
    assert answer.headers["Location"] == url
    order = status(client, url)
    assert order["item"] == "tea"
    assert order["receipt"]["status"] == "queued", "stored, on commit or with the order"
    job_id = order["receipt"]["job_id"]
    assert Order.objects.get(pk=order["order"]).receipt_job == job_id

    worker = start_worker(start, bb)
    done = wait_until(lambda: status(client, url)["receipt"]["status"] == "succeeded", 30)
    assert done, worker.log()
    order = status(client, url)
    assert order["receipt"]["text"] == f"Receipt for order {order['order']}: tea (job {job_id})"
    assert order["receipt_sent_at"] is not None, "the task updated the order"
    assert "tasks orders.tasks.send_receipt" in worker.log()


def test_a_form_without_an_item_places_nothing(bb: Any) -> None:
    Order = example("orders.models").Order

    answer = Client().post("/orders/", {"item": " "})
    assert answer.status_code == 400
    assert "item" in answer.json()["error"]
    assert not Order.objects.exists()
    assert bb.store.list_jobs() == []


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_on_commit_enqueues_only_once_the_order_is_committed(bb: Any) -> None:
    Order = example("orders.models").Order
    place_then_enqueue_on_commit = example("orders.views").place_then_enqueue_on_commit

    with pytest.raises(Rollback), transaction.atomic():
        place_then_enqueue_on_commit("tea")  # its own atomic() is a savepoint in this one
        assert bb.store.list_jobs() == [], "nothing enqueued before the outer commit"
        raise Rollback
    assert not Order.objects.exists()
    assert bb.store.list_jobs() == [], "a rolled-back order enqueues no job"

    with transaction.atomic():
        order = place_then_enqueue_on_commit("coffee")
    order.refresh_from_db()
    assert bb.get_job(order.receipt_job).status == "queued"


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_on_postgresql_the_job_is_part_of_the_orders_transaction(bb: Any, start: Start) -> None:
    Order = example("orders.models").Order
    place_in_one_transaction = example("orders.views").place_in_one_transaction

    with pytest.raises(Rollback), transaction.atomic():
        dropped = place_in_one_transaction("tea")
        assert bb.get_job(dropped.receipt_job) is None, "invisible to others until commit"
        raise Rollback
    assert not Order.objects.exists()
    assert bb.get_job(dropped.receipt_job) is None, "rolled back with the order"

    with transaction.atomic():
        kept = place_in_one_transaction("coffee")
        assert bb.get_job(kept.receipt_job) is None, "invisible to others until commit"
    job = bb.get_job(kept.receipt_job)
    assert job is not None and job.status == "queued"
    worker = start_worker(start, bb)
    assert job.wait(timeout=30) == f"Receipt for order {kept.pk}: coffee (job {job.id})", (
        worker.log()
    )
    assert [r.id for r in bb.store.list_jobs()] == [job.id], "the rolled-back one never existed"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_migrations_match_the_models(bb: Any) -> None:
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)  # exits if not


def test_the_readme_migrate_command_creates_the_orders_table(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKBURNER_", "DJANGO_"))}
    env.update(PYTHONPATH=str(SRC), DATA_DIR=str(tmp_path))
    command = readme_command("python manage.py migrate").replace("python", sys.executable, 1)
    done = subprocess.run(
        command.split(), cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM orders_order").fetchone() == (0,)


def test_the_guide_gives_the_readme_commands() -> None:
    guide = GUIDE.read_text()
    for start in ("python manage.py migrate", "python manage.py runserver", "backburner worker "):
        assert readme_command(start) in guide
