"""Fixtures for the Redis store. Placeholder until the Redis store lands."""

from __future__ import annotations

import pytest

from . import require


@pytest.fixture
def redis_store_url() -> str:
    require("Redis store", "not implemented yet")
    raise AssertionError("unreachable")
