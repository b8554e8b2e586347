"""The chaos suite's parts: a producer that enqueues through outages, a pool of real
workers to kill, and the judge that compares the sink (what ran) with the store.

The scenario itself is tests/test_chaos.py; the task the workers run is tests/chaosapp.py.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pytest

from backburner import Backburner, StoreUnavailable
from backburner.job import JobRecord, JobStatus

from .helpers import WorkerProcess, child_pids

SUMMARIES = pytest.StashKey[list[str]]()  # printed at the end of the run by conftest.py
HANDED_BACK = re.compile(r"job (\S+) handed back to the queue \([^)]*\): ok")


class Run(NamedTuple):
    """One line of the sink: a run of the task's body."""

    job_id: str
    attempt: int
    token: int
    pid: int


def read_sink(folder: Path) -> list[Run]:
    """Every run recorded in the sink files under `folder`."""
    runs = []
    for path in sorted(folder.glob("*.runs")):
        for line in path.read_text().splitlines():
            job_id, attempt, token, pid = line.split()
            runs.append(Run(job_id, int(attempt), int(token), int(pid)))
    return runs


def hand_backs(logs: Iterable[Path]) -> Counter[str]:
    """How many times the supervisors' logs say each job was handed back uncounted."""
    found: Counter[str] = Counter()
    for path in logs:
        found.update(HANDED_BACK.findall(path.read_text(errors="replace")))
    return found


class Producer(threading.Thread):
    """Enqueues `jobs` jobs, paced over `seconds`, retrying each through store outages.

    A job counts as acknowledged only once its `delay()` returned: those are the jobs the
    guarantee covers. A `delay()` that raised may or may not have stored its job.
    """

    LONG_SHARE = 0.01  # jobs long enough to be running when a SIGTERM's grace runs out
    LONG_HOLD = 1.0

    def __init__(self, bb: Backburner, jobs: int, seconds: float, seed: int) -> None:
        super().__init__(name="chaos-producer", daemon=True)
        self.task = bb.tasks["chaos.record"]
        self.jobs = jobs
        self.seconds = seconds
        self.rng = random.Random(seed)  # its own: the thread must not share the fault RNG
        self.acked: list[str] = []
        self.refused = 0  # delay() calls that raised StoreUnavailable
        self.errors: list[str] = []  # anything else a delay() raised: never expected
        self.halt = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for n in range(self.jobs):
            long = self.rng.random() < self.LONG_SHARE
            hold = self.LONG_HOLD if long else self.rng.uniform(0, 0.004)
            while not self.halt.is_set() and not self._enqueue(n, hold):
                self.halt.wait(0.05)  # back off while the server restarts
            # pacing, so that the jobs arrive all through the faults
            due = started + (n + 1) * self.seconds / self.jobs
            self.halt.wait(max(0.0, due - time.monotonic()))
            if self.halt.is_set():
                return

    def _enqueue(self, n: int, hold: float) -> bool:
        try:
            job = self.task.delay(n, hold)
        except StoreUnavailable:
            self.refused += 1
            return False
        except Exception as exc:  # recorded, and the test fails on it
            self.errors.append(f"delay() raised {exc!r}")
            return False
        self.acked.append(job.id)
        return True


@dataclass
class Pool:
    """`size` live supervisors of real workers; each one signalled is replaced at once.

    Signalled supervisors (and children orphaned by a SIGKILL) keep running until they
    exit on their own; `worker_processes` kills every process group by PID at the end.
    """

    start: Callable[..., WorkerProcess]
    url: str
    size: int
    args: tuple[str, ...]
    active: list[WorkerProcess] = field(default_factory=list)
    died: list[str] = field(default_factory=list)  # supervisors that exited unasked

    def fill(self) -> None:
        """Replace supervisors that were signalled or exited, up to `size`."""
        for worker in list(self.active):
            code = worker.proc.poll()
            if code is not None:
                self.active.remove(worker)
                self.died.append(f"pid {worker.pid} exited {code} unasked; see {worker.log_path}")
        while len(self.active) < self.size:
            self.active.append(self.start(self.url, *self.args, app="chaosapp:bb"))

    def signal_supervisor(self, rng: random.Random, signum: int) -> None:
        """Send `signum` to one supervisor, then replace it."""
        worker = rng.choice(self.active)
        self.active.remove(worker)
        worker.signal(signum)
        self.fill()

    def signal_child(self, rng: random.Random, signum: int) -> bool:
        """Send `signum` to one child of a live supervisor; False if none has a child."""
        children = [pid for worker in self.active for pid in child_pids(worker.pid)]
        if not children:
            return False
        try:
            os.kill(rng.choice(children), signum)
        except ProcessLookupError:
            return False  # it exited meanwhile: no fault landed
        return True


def _kill_child(pool: Pool, rng: random.Random) -> bool:
    return pool.signal_child(rng, signal.SIGKILL)


def _term_child(pool: Pool, rng: random.Random) -> bool:
    return pool.signal_child(rng, signal.SIGTERM)


def _kill_supervisor(pool: Pool, rng: random.Random) -> bool:
    pool.signal_supervisor(rng, signal.SIGKILL)
    return True


def _term_supervisor(pool: Pool, rng: random.Random) -> bool:
    pool.signal_supervisor(rng, signal.SIGTERM)
    return True


# kind: (weight, inject); children most often, since a pool has more of them
FAULTS: dict[str, tuple[int, Callable[[Pool, random.Random], bool]]] = {
    "child SIGKILL": (4, _kill_child),
    "child SIGTERM": (2, _term_child),
    "supervisor SIGKILL": (1, _kill_supervisor),
    "supervisor SIGTERM": (1, _term_supervisor),
}


def inject_worker_fault(pool: Pool, rng: random.Random, faults: Counter[str]) -> None:
    """One random fault to a worker process, counted under its kind if it landed."""
    kinds = list(FAULTS)
    kind = rng.choices(kinds, weights=[FAULTS[k][0] for k in kinds])[0]
    if FAULTS[kind][1](pool, rng):
        faults[kind] += 1


def active_jobs(bb: Backburner) -> int:
    """Jobs scheduled, queued or running, in every queue."""
    counts = bb.store.counts()
    return sum(n for by_status in counts.values() for s, n in by_status.items() if not s.finished)


@dataclass
class Verdict:
    """What the sink and the store say about a chaos run."""

    jobs: int = 0  # acknowledged
    ran: int = 0  # jobs with at least one run
    runs: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged, not succeeded
    never_ran: list[str] = field(default_factory=list)  # acknowledged, no run in the sink
    counted: int = 0  # extra runs under a new attempt number
    handed: int = 0  # extra runs under the same attempt number: hand-backs
    token_reused: list[str] = field(default_factory=list)  # one (job, token), two runs
    unexplained: list[str] = field(default_factory=list)  # same attempt, no hand-back logged
    beyond: list[str] = field(default_factory=list)  # a run the record does not account for
    unproven: list[str] = field(default_factory=list)  # succeeded, no run under its token

    @property
    def duplicates(self) -> int:
        return self.counted + self.handed

    def problems(self) -> dict[str, list[str]]:
        """Each check that failed, with up to five examples."""
        checks = {
            "acknowledged jobs not succeeded": self.lost,
            "acknowledged jobs that never ran": self.never_ran,
            "(job, token) run twice": self.token_reused,
            "attempt rerun without a hand-back": self.unexplained,
            "runs beyond the record's attempts or token": self.beyond,
            "succeeded with no run under the recorded token": self.unproven,
        }
        return {name: found[:5] for name, found in checks.items() if found}


def judge(
    acked: list[str], records: Mapping[str, JobRecord | None], runs: list[Run], handed: Counter[str]
) -> Verdict:
    """Compare what ran (the sink) with what the store recorded, job by job."""
    verdict = Verdict(jobs=len(acked), runs=len(runs))
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_job[run.job_id].append(run)
    verdict.ran = len(by_job)
    for job_id in acked:
        record = records.get(job_id)
        if record is None or record.status is not JobStatus.SUCCEEDED:
            verdict.lost.append(f"{job_id}: {record.status if record else 'missing'}")
        if job_id not in by_job:
            verdict.never_ran.append(job_id)
    for job_id, job_runs in by_job.items():
        _judge_job(verdict, job_id, job_runs, records.get(job_id), handed[job_id])
    return verdict


def _judge_job(
    verdict: Verdict, job_id: str, runs: list[Run], record: JobRecord | None, handed: int
) -> None:
    tokens = Counter(run.token for run in runs)
    verdict.token_reused += [f"{job_id} token {t} x{n}" for t, n in tokens.items() if n > 1]
    attempts = {run.attempt for run in runs}
    # a counted attempt has a number of its own; a hand-back keeps its number (issue 13,
    # item 15) but the next claim gets a new token, so a repeated number is a hand-back
    verdict.counted += len(attempts) - 1
    repeated = len(runs) - len(attempts)
    verdict.handed += repeated
    if repeated > handed:
        verdict.unexplained.append(f"{job_id}: {repeated} reruns, {handed} hand-backs logged")
    if record is None:
        verdict.beyond.append(f"{job_id}: ran, but the store has no such job")
        return
    if max(attempts) > record.attempts or max(tokens) > record.token:
        verdict.beyond.append(
            f"{job_id}: ran attempt {max(attempts)} token {max(tokens)}, "
            f"record says attempts {record.attempts} token {record.token}"
        )
    if record.status is JobStatus.SUCCEEDED and record.token not in tokens:
        verdict.unproven.append(f"{job_id}: token {record.token}, runs {sorted(tokens)}")


def summary(
    store: str, seed: int, verdict: Verdict, faults: Counter[str], producer: Producer, wall: float
) -> str:
    """The one line per store that the closing note quotes."""
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(faults.items()))
    return (
        f"chaos {store}: seed {seed}, {verdict.jobs} jobs acknowledged "
        f"({producer.refused} delay() refused in outages), {verdict.runs} runs; "
        f"faults {sum(faults.values())} ({kinds}); lost {len(verdict.lost)}; "
        f"duplicates {verdict.duplicates} ({verdict.counted} counted attempts, "
        f"{verdict.handed} hand-backs); {wall:.0f}s"
    )
