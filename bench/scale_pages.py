"""What a SQLite enqueue and claim+complete cost as the file grows, in measures the
machine's load changes little (issue 20, target 5):

    python -m bench.scale_pages [--finished 1000000] [--queued 100000] [--chunks 12]

Two stores, each with --queued jobs queued: one also holding --finished finished jobs
("big"), one not ("empty"). One process enqueues and then claims and completes --size
jobs on each in turn (--chunks times, alternating which goes first), so both see the same
load. Per operation: the rate (medians of the chunks), read() calls (/proc/self/io
syscr: pages SQLite had to fetch from the file, its own cache missing them), CPU; then,
with checkpoints held off, the WAL frames written and the distinct pages among them (what
a checkpoint copies into the database file).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from backburner import Backburner

from . import scale_seed
from .app import build


def read_calls() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    return 0


def operations(bb: Backburner) -> dict[str, Callable[[int], None]]:
    noop, store = bb.tasks["noop"], bb.store

    def enqueue(n: int) -> None:
        for i in range(n):
            noop.delay(i)

    def claim(n: int) -> None:
        for _ in range(n):
            for job in store.claim(None, "bench", 1, 30.0):
                store.complete(job.id, job.token, None)

    return {"enqueue": enqueue, "claim+complete": claim}


def wal_pages(path: str) -> tuple[int, int]:
    """(frames, distinct pages) in the WAL of the database at `path`."""
    data = Path(path + "-wal").read_bytes()
    size = struct.unpack(">I", data[8:12])[0]
    salt, pages, frames, at = data[16:24], set(), 0, 32
    while at + 24 + size <= len(data) and data[at + 8 : at + 16] == salt:
        pages.add(struct.unpack(">I", data[at : at + 4])[0])
        frames += 1
        at += 24 + size
    return frames, len(pages)


def checkpointed(path: str, bb: Backburner, run: Callable[[int], None], n: int) -> str:
    """WAL frames and distinct pages per operation over `n` operations, no checkpoint."""
    bb.store._conn().execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[attr-defined]
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        run(n)
        frames, distinct = wal_pages(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    bb.store._conn().execute("PRAGMA wal_autocheckpoint=1000")  # type: ignore[attr-defined]
    return f"WAL frames {frames / n:.2f}, distinct pages {distinct / n:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--chunks", type=int, default=12)
    parser.add_argument("--size", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bb-pages-") as folder:
        paths = {name: f"{folder}/{name}.db" for name in ("big", "empty")}
        apps = {name: build(f"sqlite:///{path}") for name, path in paths.items()}
        scale_seed.seed_finished(apps["big"], f"sqlite:///{paths['big']}", args.finished, 3600)
        for bb in apps.values():
            scale_seed.enqueue(bb, args.queued)
            bb.tasks["noop"].delay(0)  # open the store outside the timing
        figures: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for chunk in range(args.chunks):
            names = ["big", "empty"] if chunk % 2 == 0 else ["empty", "big"]
            for name in names:
                for what, run in operations(apps[name]).items():
                    calls, cpu, began = read_calls(), time.process_time(), time.perf_counter()
                    run(args.size)
                    wall = time.perf_counter() - began
                    figures.setdefault((name, what), []).append(
                        (
                            args.size / wall,
                            (read_calls() - calls) / args.size,
                            (time.process_time() - cpu) / args.size * 1e6,
                        )
                    )
        for what in ("enqueue", "claim+complete"):
            rates = {}
            for name in ("empty", "big"):
                rows = figures[(name, what)]
                rates[name] = statistics.median(r[0] for r in rows)
                wal = checkpointed(paths[name], apps[name], operations(apps[name])[what], 280)
                print(
                    f"{what:15} {name:5}: {rates[name]:7,.0f}/s, read() calls "
                    f"{statistics.median(r[1] for r in rows):.2f}, CPU "
                    f"{statistics.median(r[2] for r in rows):.0f} us per op; {wal}"
                )
            print(f"{what:15} big/empty {rates['big'] / rates['empty']:.2f}x")
        for bb in apps.values():
            bb.close()


if __name__ == "__main__":
    main()
