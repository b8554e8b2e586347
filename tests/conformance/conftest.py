"""Every conformance test runs once per store backend, on a fresh, empty store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner.stores import Store, open_store

BACKENDS = ("memory", "sqlite", "redis", "postgres")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming a fresh store of each backend, isolated from every other test."""
    name = request.param
    if name == "memory":
        return "memory://"
    if name == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db"
    return str(request.getfixturevalue(f"{name}_store_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def shared_url(store_url: str) -> str:
    """The store URL, for tests where several processes must share one store."""
    if store_url.startswith("memory"):
        pytest.skip("memory:// lives inside one process")
    return store_url
