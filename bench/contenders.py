"""Who runs: backburner on each store, and the peers a user would otherwise pick.

Every contender runs with its library's documented defaults and a concurrency of 2: two
worker processes where the library has processes (the machine has 2 cores), or its own
documented knob for 2 concurrent jobs where it has none (Procrastinate).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent  # the peers' virtualenv: their CLIs live beside python


@dataclass(frozen=True)
class Contender:
    """One library on one store: how to address the store and how to start its workers."""

    name: str
    store: str  # "sqlite" | "redis" | "postgres": the kind it is compared within
    module: str  # its app, in bench/peers/
    how: str  # how its workers run, for the report
    workers: Callable[[str], list[list[str]]]  # store URL -> worker commands
    url: Callable[[str], str] = lambda base: base  # fresh store -> what the app reads
    ours: bool = False
    # a yardstick, not a library: never the "best peer", compared with on its own line
    floor: bool = False


def _backburner(url: str) -> list[list[str]]:
    app = "bench.peers.backburner:bb"
    return [[sys.executable, "-m", "backburner", "worker", app, "--processes", "2"]]


def _huey(url: str) -> list[list[str]]:
    # threads, Huey's default worker type: as fast as `-k process` on this job, or faster
    # (measured; the job waits on Redis), with a third of the memory
    return [[str(BIN / "huey_consumer"), "bench.peers.huey.huey", "-w", "2", "-k", "thread"]]


def _rq(worker_class: str | None) -> Callable[[str], list[list[str]]]:
    def commands(url: str) -> list[list[str]]:
        cmd = [str(BIN / "rq"), "worker", "--url", url]
        if worker_class:
            cmd += ["--worker-class", worker_class]
        return [cmd, list(cmd)]  # RQ scales by running more worker processes

    return commands


def _floor(url: str) -> list[list[str]]:
    cmd = [sys.executable, "-m", "bench.peers.floor"]
    return [cmd, list(cmd)]


def _celery(url: str) -> list[list[str]]:
    app = "bench.peers.celery:app"
    return [[str(BIN / "celery"), "-A", app, "worker", "--concurrency", "2", "--pool", "prefork"]]


def _dramatiq(url: str) -> list[list[str]]:
    return [[str(BIN / "dramatiq"), "bench.peers.dramatiq:broker", "-p", "2", "-t", "1"]]


def _procrastinate(url: str) -> list[list[str]]:
    app = "--app=bench.peers.procrastinate.app"
    return [[str(BIN / "procrastinate"), app, "worker", "--concurrency=2"]]


BB = "bench.peers.backburner"
BB_HOW = "`backburner worker -p 2` (threads 1)"
CONTENDERS: tuple[Contender, ...] = (
    Contender("backburner-sqlite", "sqlite", BB, BB_HOW, _backburner, "sqlite:///{}".format, True),
    # backburner without the fsync per enqueue, to separate the cost of the fsync from the
    # cost of the code. Not Huey's durability: SqliteHuey leaves SQLite's default,
    # synchronous=FULL (PRAGMA synchronous reads 2 on its connection), on every commit
    Contender(
        "backburner-sqlite-normal",
        "sqlite",
        BB,
        BB_HOW + ", `?synchronous=normal`",
        _backburner,
        "sqlite:///{}?synchronous=normal".format,
        True,
    ),
    Contender(
        "huey-sqlite",
        "sqlite",
        "bench.peers.huey",
        "SqliteHuey, `-w 2` (threads, the default)",
        _huey,
    ),
    Contender(
        "backburner-redis", "redis", BB, BB_HOW, _backburner, lambda u: f"{u}?prefix=bench", True
    ),
    Contender(
        "huey-redis", "redis", "bench.peers.huey", "RedisHuey, `-w 2` (threads, the default)", _huey
    ),
    Contender(
        "rq-simple",
        "redis",
        "bench.peers.rq",
        "2 x `rq worker -w SimpleWorker`",
        _rq("rq.worker.SimpleWorker"),
    ),
    Contender("rq-fork", "redis", "bench.peers.rq", "2 x `rq worker` (fork per job)", _rq(None)),
    # a bare LPUSH/BRPOP loop: what drain costs with no record of a job (issue 20, item 3)
    Contender(
        "floor-redis",
        "redis",
        "bench.peers.floor",
        "2 x a bare BRPOP loop (`python -m bench.peers.floor`), no acknowledgement",
        _floor,
        floor=True,
    ),
    Contender("celery", "redis", "bench.peers.celery", "prefork pool, `-c 2`", _celery),
    Contender("dramatiq", "redis", "bench.peers.dramatiq", "`-p 2 -t 1`", _dramatiq),
    Contender("backburner-postgres", "postgres", BB, BB_HOW, _backburner, ours=True),
    Contender(
        "procrastinate",
        "postgres",
        "bench.peers.procrastinate",
        "1 process, `--concurrency=2`",
        _procrastinate,
    ),
)
