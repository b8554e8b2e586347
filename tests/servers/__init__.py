"""Real servers for tests: use the machine's, or start our own on a free port.

A test needing a server that is absent is skipped on a laptop and fails under CI.
"""

from __future__ import annotations

import os
import socket

import pytest


def require(what: str, why: str) -> None:
    """Skip (locally) or fail (when $CI is set) because `what` is not available."""
    message = f"{what} not available: {why}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run these tests; .ci/run should have started it)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
