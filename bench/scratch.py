"""Empty stores for the phases of one benchmark script, and their removal afterwards.

Without a base URL each phase gets a new SQLite file in a folder; with one, a Redis key
prefix or a PostgreSQL schema of that server, named `bench_<phase>_<run>` so runs never
meet. (`bench/stores.py` does the same for the peer comparison, per contender.)
"""

from __future__ import annotations

import secrets


class Scratch:
    """`url(phase)`: an empty store for that phase (the same one if asked again);
    `drop()`: remove every Redis key or PostgreSQL schema this run made."""

    def __init__(self, base: str | None, folder: str) -> None:
        self.base, self.folder = base, folder
        self.run = secrets.token_hex(3)
        self.names: dict[str, None] = {}  # prefixes and schemas made, in order

    def url(self, phase: str) -> str:
        if not self.base:
            return f"sqlite:///{self.folder}/{phase}.db"
        name = f"bench_{phase}_{self.run}"
        self.names[name] = None
        sep = "&" if "?" in self.base else "?"
        option = "schema" if self.base.startswith("postgres") else "prefix"
        return f"{self.base}{sep}{option}={name}"

    def drop(self) -> None:
        if not self.base or not self.names:
            return
        server = self.base.split("?")[0]
        if self.base.startswith("postgres"):
            import psycopg

            with psycopg.connect(server, autocommit=True) as conn:
                for name in self.names:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            return
        import redis

        client = redis.Redis.from_url(server)
        for name in self.names:
            for key in client.scan_iter(match=f"{{{name}}}*", count=1000):
                client.delete(key)
