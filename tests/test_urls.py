"""Store URLs in logs and under init_app: passwords hidden, SQLite paths made absolute."""

from __future__ import annotations

import pytest

from backburner.urls import describe, redact, resolve_sqlite


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
