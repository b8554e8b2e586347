"""Store URLs in logs and under init_app: passwords hidden, SQLite paths made absolute."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from backburner import Backburner, BackburnerError
from backburner.errors import StoreUnavailable
from backburner.urls import describe, redact, resolve_sqlite, scrub


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/jobs", "postgresql://app:***@db:5432/jobs"),
        ("redis://:s3cret@cache:6379/0?prefix=x", "redis://:***@cache:6379/0?prefix=x"),
        ("postgresql://app@db/jobs?password=s3cret&schema=q", None),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite:///jobs.db", "sqlite:///jobs.db"),
        ("memory://", "memory://"),
    ],
)
def test_redact_hides_passwords_and_keeps_the_rest(url: str, shown: str | None) -> None:
    assert "s3cret" not in redact(url)
    if shown is not None:
        assert redact(url) == shown
    else:
        assert redact(url) == "postgresql://app@db/jobs?password=***&schema=q"


def test_resolve_sqlite_makes_relative_paths_absolute_under_the_folder() -> None:
    assert resolve_sqlite("sqlite:///jobs.db", "/srv/app") == "sqlite:////srv/app/jobs.db"
    assert (
        resolve_sqlite("sqlite:///data/j.db?synchronous=normal", "/srv")
        == "sqlite:////srv/data/j.db?synchronous=normal"
    )
    for unchanged in ("sqlite:////abs/jobs.db", "redis://h/0", "memory://"):
        assert resolve_sqlite(unchanged, "/srv") == unchanged


def test_describe_gives_the_sqlite_file_and_says_when_the_url_is_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir("/tmp")
    assert describe("sqlite:///b.db", default=True) == (
        "sqlite:///b.db (file /tmp/b.db) (the default: no URL given)"
    )
    assert describe("redis://:pw@h/0") == "redis://:***@h/0"


SECRET = "s3cret"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://cache:6379/0?password=s3cret", "redis://cache:6379/0?password=***"),
        ("rediss://cache/0?ssl_password=s3cret", "rediss://cache/0?ssl_password=***"),
        (
            "postgresql://app@db/jobs?sslpassword=s3cret&sslmode=require",
            "postgresql://app@db/jobs?sslpassword=***&sslmode=require",
        ),
        ("postgresql://app@db/jobs?auth_token=s3cret", "postgresql://app@db/jobs?auth_token=***"),
        ("redis://[::1/0?password=s3cret", "redis://*** (malformed URL)"),
    ],
)
def test_redact_hides_every_password_like_option(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_redact_hides_the_options_it_is_told_to_and_scrub_hides_secrets_in_text() -> None:
    assert redact("redis://h/0?pasword=s3cret", hide=["pasword"]) == "redis://h/0?pasword=***"
    url = "postgresql://app:s3%40cret@db/jobs?sslpassword=k3y"
    assert scrub("auth failed for s3@cret and s3%40cret with k3y", url) == (
        "auth failed for *** and *** with ***"
    )


def test_no_url_shown_by_backburner_holds_the_password(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:1/0?password={SECRET}"  # nothing listens on port 1
    bb = Backburner(url)
    shown = [repr(bb)]
    app = Flask("shown")
    bb.init_app(app, api_prefix="/jobs", auth=lambda record, request: True)
    with pytest.raises(BackburnerError) as twice:
        bb.init_app(app)
    shown.append(str(twice.value))
    with pytest.raises(BackburnerError) as in_transaction:
        bb.transaction(object()).__enter__()
    shown.append(str(in_transaction.value))
    with pytest.raises(StoreUnavailable) as down:
        bb.get_job("abc")
    shown.append(str(down.value))
    with caplog.at_level(logging.WARNING):
        assert app.test_client().get("/jobs/abc").status_code == 503
    shown.append(caplog.text)
    for bad in (f"mysql://u:{SECRET}@h/db", f"redis://h/0?pasword={SECRET}"):
        with pytest.raises(ValueError) as refused:
            Backburner(bad)
        shown.append(str(refused.value))
    with pytest.raises(ValueError) as unknown:
        Backburner(f"postgresql://u:{SECRET}@h/db?sslpasswd={SECRET}&bogus={SECRET}")
    shown.append(str(unknown.value))
    assert all(SECRET not in text for text in shown), shown
    assert sum("***" in text for text in shown) == len(shown) - 1  # all but transaction()'s
    bb.close()


def test_a_password_urlsplit_cuts_short_is_hidden_whole() -> None:
    # a base64 password may hold / + = unquoted, and # or ? in a hand-written URL
    for url, shown in (
        ("postgresql://app:Zk3/9qA+b==@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("redis://:s3cr#et@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://u:a?b@h/0?prefix=p", "redis://u:***@h/0?prefix=p"),
    ):
        assert redact(url) == shown
    assert scrub("auth failed for Zk3/9qA+b==", "postgresql://app:Zk3/9qA+b==@db/app") == (
        "auth failed for ***"
    )
