"""Shared fixtures: server-backed store URLs come from tests/servers/."""

pytest_plugins = ["tests.servers.redis", "tests.servers.postgres"]
