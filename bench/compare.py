"""backburner against its peers, side by side: the runner (start it with `python -m bench`).

    python -m bench [--jobs 20000] [--rounds 3] [--only a,b] [--skip a,b] ...

Runs inside the peers' virtualenv (`python -m bench` makes it and re-executes itself
there). Rounds interleave the contenders; everything a round starts is stopped and
every store it creates is removed, even when interrupted. The results go to
bench/RESULTS.md and the tables are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from bench import environment, report
from bench.contenders import CONTENDERS, Contender
from bench.measure import Outcome, Plan, run_one
from bench.stores import StoreError, Stores

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "bench" / ".peers" / "runs"


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=20_000, help="jobs per enqueue/drain (20000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each runs everyone (3)")
    p.add_argument("--latency", type=int, default=200, help="sequential latency jobs (200)")
    p.add_argument("--pause", type=float, default=0.02, help="idle time before each (0.02 s)")
    p.add_argument("--stall", type=float, default=60.0, help="drain gives up after S s idle")
    p.add_argument("--only", default="", help="comma-separated contenders to run")
    p.add_argument("--skip", default="", help="comma-separated contenders to leave out")
    p.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/13",
        help="an EMPTY Redis database: it is flushed (redis://127.0.0.1:6379/13)",
    )
    p.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to create a database per contender run in",
    )
    p.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="measure a copy of src/backburner taken at start, so edits made during the "
        "run do not change what later rounds measure",
    )
    p.add_argument("--keep", action="store_true", help="keep logs even when all went well")
    p.add_argument("--reinstall", action="store_true", help="(bootstrap) upgrade the peers")
    p.add_argument("--list", action="store_true", help="list the contenders and exit")
    args = p.parse_args(argv)
    if args.jobs < 2 or args.rounds < 1 or args.latency < 1:
        p.error("--jobs must be >= 2, --rounds and --latency >= 1")
    return args


def choose(only: str, skip: str) -> list[Contender]:
    known = {c.name for c in CONTENDERS}
    wanted = {n for n in only.split(",") if n}
    unwanted = {n for n in skip.split(",") if n}
    unknown = (wanted | unwanted) - known
    if unknown:
        raise SystemExit(f"unknown contender(s) {sorted(unknown)}; known: {sorted(known)}")
    return [c for c in CONTENDERS if (not wanted or c.name in wanted) and c.name not in unwanted]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so every `finally` stops what it started


def run_rounds(
    chosen: list[Contender], rounds: int, plan: Plan, stores: Stores, package: Path
) -> tuple[list[Outcome], list[str]]:
    """Every contender once per round, in an order rotated each round; the outcomes, and
    the digest of the backburner `package` measured at the start of each round."""
    outcomes, digests = [], []
    for rnd in range(1, rounds + 1):
        digests.append(environment.digest(package))
        shift = (rnd - 1) % len(chosen)
        for c in chosen[shift:] + chosen[:shift]:
            began = time.monotonic()
            print(f"[round {rnd}/{rounds}] {c.name} ...", end=" ", flush=True)
            o = run_one(c, rnd, plan, stores)
            outcomes.append(o)
            print(_line(o, time.monotonic() - began), flush=True)
    return outcomes, digests


def _line(o: Outcome, took: float) -> str:
    figures = [
        f"{m.key} {m.show(v)}" for m in report.METRICS if (v := getattr(o, m.key)) is not None
    ]
    tail = "" if o.status == "ok" else f" [{o.status}]"
    return f"{', '.join(figures) or '-'}, lost {o.lost}, dup {o.dup} ({took:.0f}s){tail}"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    chosen = choose(args.only, args.skip)
    if args.list:
        for c in CONTENDERS:
            print(f"{c.name:26} {c.store:9} {c.how}")
        return
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        lock = _exclusive(args.redis)  # held until this process exits
    except StoreError as exc:
        raise SystemExit(str(exc)) from None
    run_id = f"{time.strftime('%m%d%H%M')}{secrets.token_hex(2)}"
    folder = RUNS / run_id
    folder.mkdir(parents=True)
    commit = environment.source(ROOT)  # now: the tree may move on while the rounds run
    package = _snapshot(folder) if args.snapshot else ROOT / "src" / "backburner"
    pythonpath = os.pathsep.join([str(package.parent), str(ROOT)])
    plan = Plan(
        ROOT, pythonpath, folder, args.redis, args.jobs, args.latency, args.pause, args.stall
    )
    machine, date = environment.machine(), environment.now()
    stores = Stores(folder, args.redis, args.pg, run_id)
    try:
        stores.check()
        outcomes, digests = run_rounds(chosen, args.rounds, plan, stores, package)
    except StoreError as exc:
        raise SystemExit(str(exc)) from None
    except KeyboardInterrupt:
        print(f"\ninterrupted: every process started was stopped; logs in {folder}")
        raise SystemExit(130) from None
    finally:
        stores.close()
    machine["load average at end"] = environment.machine()["load average at start"]
    text = report.render(
        command=_command(argv),
        date=date,
        source=_source(commit, digests, args.snapshot),
        machine=machine,
        versions={**environment.versions(), **stores.versions},
        plan={"jobs": args.jobs, "latency": args.latency, "pause": args.pause},
        rounds=args.rounds,
        contenders=chosen,
        outcomes=outcomes,
        kept=report.kept_part(args.output.read_text()) if args.output.exists() else "",
    )
    args.output.write_text(text)
    kept = args.keep or bool(report.problems(outcomes))
    _tidy(folder, kept)
    print(f"\n{report.summary(text)}\n\nwritten to {args.output}")
    if kept:
        print(f"logs kept in {folder}")
    lock.close()


def _exclusive(redis_url: str) -> IO[str]:
    """A lock on the Redis database for this run, held while the file stays open: each
    run flushes the database between contenders, so two runs would wipe each other's
    marks. Raises StoreError if another run on this machine holds it."""
    name = hashlib.sha256(redis_url.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"backburner-bench-{name}.lock"
    lock = open(path, "a")  # noqa: SIM115 (it must stay open, so locked, for the whole run)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise StoreError(
            f"another benchmark run is using {redis_url} (lock {path}): wait for it to "
            "finish, or give this run an empty database of its own with --redis"
        ) from None
    return lock


def _tidy(folder: Path, keep: bool) -> None:
    """Remove the run's folder (logs), unless asked to keep it or something went wrong."""
    if keep:
        return
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        RUNS.rmdir()  # only when no other run left its logs there


def _snapshot(folder: Path) -> Path:
    """A copy of the backburner package as it is now, first on every import path."""
    target = folder / "src" / "backburner"
    shutil.copytree(
        ROOT / "src" / "backburner", target, ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def _source(commit: str, digests: list[str], snapshot: bool) -> str:
    """`commit` is the tree when the run started."""
    if snapshot:
        commit += ", copied at start (--snapshot)"
    if len(set(digests)) <= 1:
        return f"{commit}, source digest {digests[0] if digests else '?'} in every round"
    per_round = ", ".join(f"round {i}: {d}" for i, d in enumerate(digests, 1))
    return f"{commit}; the source CHANGED during the run ({per_round})"


def _command(argv: Sequence[str] | None) -> str:
    given = os.environ.get("BENCH_COMMAND")
    return given or " ".join(["python -m bench.compare", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
