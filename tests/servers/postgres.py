"""Fixtures for the PostgreSQL store. Placeholder until the PostgreSQL store lands."""

from __future__ import annotations

import pytest

from . import require


@pytest.fixture
def postgres_store_url() -> str:
    require("PostgreSQL store", "not implemented yet")
    raise AssertionError("unreachable")
