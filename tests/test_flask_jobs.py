"""The Flask job API's hardening (issue 13): what it shows without auth, valid JSON
always, malformed and huge ids, and polls that do not read a job's arguments."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from backburner import Backburner, JobRecord
from backburner.testing import drain


def _app(bb: Backburner, **options: Any) -> Flask:
    app = Flask(__name__)
    bb.init_app(app, api_prefix="/jobs", **options)
    return app


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def bb(tmp_path: Path) -> Iterator[Backburner]:
    bb = Backburner(f"sqlite:///{tmp_path}/jobs.db")

    @bb.task(name="leaky", retries=0)
    def leaky() -> None:
        raise ValueError("bad token sk_live_123\nmore")

    @bb.task(name="open", retries=0, expose_error=True)
    def open_() -> None:
        raise ValueError("bad input 7")

    @bb.task(name="odd", expose_result=True)
    def odd() -> dict[str, Any]:
        return {"nan": float("nan"), "up": float("inf"), "down": [float("-inf")], "n": 1.5}

    @bb.task(name="big")
    def big(blob: str) -> int:
        return len(blob)

    yield bb
    bb.close()


def test_without_auth_an_error_shows_only_its_type_unless_exposed(bb: Backburner) -> None:
    leaky, opened = bb.tasks["leaky"].delay(), bb.tasks["open"].delay()
    drain(bb)
    client = _app(bb).test_client()
    assert client.get(f"/jobs/{leaky.id}").json["error"] == "ValueError"  # type: ignore[index]
    page = client.get(f"/jobs/{leaky.id}", headers={"Accept": "text/html"}).text
    assert "sk_live" not in page
    assert client.get(f"/jobs/{opened.id}").json["error"] == "ValueError: bad input 7"  # type: ignore[index]
    for options in ({"expose_errors": True}, {"auth": lambda record, request: True}):
        shown = _app(bb, **options).test_client().get(f"/jobs/{leaky.id}").json
        assert shown is not None and shown["error"] == "ValueError: bad token sk_live_123"


def test_a_job_api_without_auth_warns_once_at_its_first_request(
    bb: Backburner, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="backburner"):
        open_api = _app(bb).test_client()
        guarded = _app(bb, auth=lambda record, request: True).test_client()
        assert "auth" not in caplog.text  # not at init_app: CLI commands call it too
        for _ in range(2):
            open_api.get("/jobs/x")
            guarded.get("/jobs/x")
    warnings = [r for r in caplog.records if "shows any job to anyone" in r.getMessage()]
    assert len(warnings) == 1 and "auth=" in warnings[0].getMessage()


def test_nan_and_infinities_are_answered_as_valid_json(bb: Backburner) -> None:
    job = bb.tasks["odd"].delay()
    drain(bb)
    client = _app(bb).test_client()
    response = client.get(f"/jobs/{job.id}")
    data = _strict_json(response.get_data(as_text=True))
    assert data["result"] == {"nan": "NaN", "up": "Infinity", "down": ["-Infinity"], "n": 1.5}
    page = client.get(f"/jobs/{job.id}", headers={"Accept": "text/html"}).text
    embedded = page.rsplit("show(", 1)[1].split(");\n", 1)[0]  # what the script starts from
    assert _strict_json(embedded)["result"]["nan"] == "NaN"
    assert "<dt>result</dt>" in page


def test_a_huge_id_is_neither_looked_up_nor_echoed(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _app(bb).test_client()
    reads: list[str] = []
    real_get = bb.store.get

    def counted_get(job_id: str, **options: Any) -> JobRecord | None:
        reads.append(job_id)
        return real_get(job_id, **options)

    monkeypatch.setattr(bb.store, "get", counted_get)
    response = client.get("/jobs/" + "a" * 1_000_000)
    assert response.status_code == 404 and reads == []
    assert len(response.get_data()) < 200 and "aaaa" not in response.get_data(as_text=True)


def test_a_nul_in_the_id_is_a_404_on_postgresql(postgres_store_url: str) -> None:
    bb = Backburner(postgres_store_url)
    response = _app(bb).test_client().get("/jobs/a%00b")
    assert response.status_code == 404 and response.json == {"error": "no job 'a\\x00b'"}
    bb.close()


def test_polling_a_job_does_not_read_its_arguments(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = bb.tasks["big"].delay("x" * 20_000_000)
    client = _app(bb).test_client()
    returned: list[JobRecord | None] = []
    real_get = bb.store.get

    def measured_get(job_id: str, **options: Any) -> JobRecord | None:
        returned.append(real_get(job_id, **options))
        return returned[-1]

    monkeypatch.setattr(bb.store, "get", measured_get)
    for accept in ("application/json", "text/html", "application/json", "text/html"):
        assert client.get(f"/jobs/{job.id}", headers={"Accept": accept}).status_code == 200
    assert len(returned) == 4
    assert all(r is not None and r.payload == "" for r in returned)  # none of the 20 MB


def test_an_auth_callback_may_decide_by_the_jobs_arguments(bb: Backburner) -> None:
    from backburner import codec

    def owner_only(record: JobRecord, request: Any) -> bool:
        args, _ = codec.loads(record.payload)  # the whole job, not the poll's light read
        return bool(args[0] == request.headers.get("X-User"))

    mine = bb.tasks["big"].delay("ada")
    client = _app(bb, auth=owner_only).test_client()
    headers = {"Accept": "application/json"}
    assert client.get(f"/jobs/{mine.id}", headers={**headers, "X-User": "ada"}).status_code == 200
    assert client.get(f"/jobs/{mine.id}", headers={**headers, "X-User": "bob"}).status_code == 404
