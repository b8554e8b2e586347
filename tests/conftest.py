"""Shared fixtures: server-backed store URLs come from tests/servers/; the --chaos option."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .chaos import SUMMARIES
from .helpers import Start, worker_processes

pytest_plugins = ["tests.servers.redis", "tests.servers.postgres"]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start `backburner worker` processes with `start(url, *args, app=...)`; each is
    killed by PID when the test ends."""
    with worker_processes(tmp_path) as start:
        yield start


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("backburner")
    group.addoption(
        "--chaos",
        action="store_true",
        help="also run the chaos tests (about a minute per store); `make test` does",
    )
    group.addoption("--chaos-seed", type=int, default=None, help="replay a chaos run's faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # a plain `pytest` stays quick; CI runs `make test`, which passes --chaos
    if config.getoption("--chaos"):
        return
    skip = pytest.mark.skip(reason="chaos test: run with pytest --chaos (make test does)")
    for item in items:
        if "chaos" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The chaos figures, one line per store, where they are easy to quote."""
    lines = config.stash.get(SUMMARIES, [])
    if lines:
        terminalreporter.section("chaos")
        for line in lines:
            terminalreporter.write_line(line)
