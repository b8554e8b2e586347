"""Fixtures as in Flask's testing docs: an app from the factory, and its test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop import create_app


@pytest.fixture
def app() -> Iterator[Flask]:
    # TESTING makes jobs run at delay(); memory:// keeps them out of the real store
    yield create_app({"TESTING": True, "BACKBURNER_URL": "memory://"})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
