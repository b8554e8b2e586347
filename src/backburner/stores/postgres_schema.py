"""The PostgreSQL store's SQL: versioned migrations of its schema, and its statements.

Migrations are the files `sql/postgres_NNNN_name.sql`, applied in order, each in the
same transaction as the row recording it in `bb_schema_version`. One transaction-scoped
advisory lock per schema serialises migrators, so any number of processes may open a
fresh store at once: the first creates the tables, the others find them done.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from ..errors import SchemaError

_FILE = re.compile(r"postgres_(\d{4})_(\w+)\.sql\Z")
_QUERIES = "postgres_queries.sql"


@dataclass(frozen=True)
class Migration:
    """One schema change: its version number, name and SQL script."""

    version: int
    name: str
    script: str


@functools.lru_cache(maxsize=1)
def migrations() -> tuple[Migration, ...]:
    """Every migration shipped with this backburner, oldest first."""
    folder = resources.files(__package__).joinpath("sql")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise SchemaError(f"PostgreSQL migrations are not numbered 1..N: {found}")
    return tuple(found)


def latest_version() -> int:
    """The schema version this backburner creates and expects."""
    return migrations()[-1].version


def current_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The version recorded in `schema`, 0 when it has no backburner tables yet."""
    table = f'"{schema}".bb_schema_version'
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute(
        sql.SQL("SELECT coalesce(max(version), 0) FROM {}.bb_schema_version").format(
            sql.Identifier(schema)
        )
    ).fetchone()
    return int(found[0]) if found else 0


def check_version(version: int, schema: str) -> None:
    """Refuse a schema newer than this code: it may rely on columns we would misuse."""
    if version > latest_version():
        raise SchemaError(
            f"PostgreSQL schema {schema!r} has backburner schema v{version}, newer than this "
            f"backburner's v{latest_version()}: upgrade backburner in this environment"
        )


def migrate(conn: psycopg.Connection[Any], schema: str) -> int:
    """Bring `schema` up to the latest version on autocommit connection `conn`.

    Returns the version now in place. Raises SchemaError when the schema is newer, or
    when this database user may not create it.
    """
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
            return _apply(conn, schema)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SchemaError(
            f"cannot create backburner's tables in PostgreSQL schema {schema!r}: {exc}. "
            "Run `backburner migrate APP` as a user allowed to, or give this user its own "
            "schema with ?schema=NAME in the URL (GRANT CREATE ON DATABASE ... TO ...)"
        ) from exc


def _apply(conn: psycopg.Connection[Any], schema: str) -> int:
    exists = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (f'"{schema}"',)).fetchone()
    if exists is None or not exists[0]:
        # only when missing: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    version = current_version(conn, schema)
    check_version(version, schema)
    for migration in migrations()[version:]:
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        # no parameters: psycopg sends the script as one simple query, every statement
        conn.execute(migration.script)
        conn.execute(
            sql.SQL("INSERT INTO {}.bb_schema_version (version, name) VALUES (%s, %s)").format(
                sql.Identifier(schema)
            ),
            (migration.version, migration.name),
        )
        version = migration.version
    return version


def queries(schema: str, columns: str) -> dict[str, str]:
    """The statements of sql/postgres_queries.sql by name, for tables in `schema`."""
    tables = {
        "jobs": f'"{schema}".bb_jobs',
        "workers": f'"{schema}".bb_workers',
        "deps": f'"{schema}".bb_deps',
        "rate_starts": f'"{schema}".bb_rate_starts',
        "paused": f'"{schema}".bb_paused',
        "slots": f'"{schema}".bb_slots',
    }
    return {name: text.format(columns=columns, **tables) for name, text in _templates().items()}


@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, str]:
    text = resources.files(__package__).joinpath(f"sql/{_QUERIES}").read_text(encoding="utf-8")
    found = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        # comments stay in the file: psycopg would read a %(x)s in one as a placeholder
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        found[name.strip()] = "\n".join(lines).strip().rstrip(";")
    return found


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"backburner.migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
