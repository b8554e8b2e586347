"""Procrastinate with its psycopg 3 connector on the database of $BENCH_STORE."""

from __future__ import annotations

import os

from procrastinate import App, PsycopgConnector

from bench.peers import record_start

app = App(connector=PsycopgConnector(conninfo=os.environ["BENCH_STORE"]))


@app.task
def record(key: str, seq: int, enqueued: float) -> None:
    record_start(key, seq, enqueued)


def open_producer() -> None:
    app.open()  # a web process opens the app once, at start-up


def enqueue(key: str, seq: int, enqueued: float) -> None:
    record.defer(key=key, seq=seq, enqueued=enqueued)


def prepare() -> None:
    with app.open():
        app.schema_manager.apply_schema()


def probe() -> None:
    with app.open():
        app.check_connection()
