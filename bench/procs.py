"""Processes the harness starts: each in a session of its own, sampled, and always killed.

A session (not just a process group) is what we track and kill, so a child that moves to
a process group of its own (some pools do) is still found, by PID, and still stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

PAGE = os.sysconf("SC_PAGE_SIZE")


class Timeout(Exception):
    """A bounded step did not finish in time."""


def session_members(sid: int) -> dict[int, tuple[int, int]]:
    """PID -> (process group, RSS bytes) of every live process in session `sid`."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                rest = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it exited while we looked
        # rest[0] is field 3 (state); process group is field 5, session 6, rss (pages) 24
        if rest[0] != b"Z" and int(rest[3]) == sid:
            found[int(entry.name)] = (int(rest[2]), int(rest[21]) * PAGE)
    return found


def pss(pid: int) -> int:
    """Proportional set size of process `pid` in bytes (each shared page divided among
    the processes mapping it, so summing over a tree counts it once); 0 once it exited."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def kill_session(sid: int, sig: int) -> None:
    """Send `sig` once to every process of session `sid`: to its process group, then by
    PID to those that left the group (a second SIGTERM often means "stop now")."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, sig)
    for pid, (group, _) in session_members(sid).items():
        if group != sid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def spawn(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session, output appended to `log`."""
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        return subprocess.Popen(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the session of `proc`, SIGKILL what is left after `grace` seconds."""
    sid = proc.pid
    kill_session(sid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        if proc.returncode is not None and not session_members(sid):
            break
        time.sleep(0.05)
    kill_session(sid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)


def run_bounded(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> tuple[int, str, str]:
    """Run `cmd` in its own session; (exit code, stdout, stderr). Raises Timeout after
    `timeout` seconds, having killed the whole session."""
    proc = subprocess.Popen(
        list(cmd),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Timeout(f"{' '.join(cmd[-4:])} took more than {timeout:.0f}s") from None
    finally:
        stop(proc, grace=0.0)  # also reaps anything it left behind in its session
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


class Workers:
    """A contender's worker processes: started together, RSS and PSS sampled, stopped
    together.

    Use as a context manager: leaving it (normally or by an exception) stops every
    session it started, whatever state it is in.
    """

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
        sample_every: float = 0.2,
        grace: float = 15.0,
    ) -> None:
        self.commands, self.env, self.cwd, self.log = commands, env, cwd, log
        self.sample_every, self.grace = sample_every, grace
        self.procs: list[subprocess.Popen[bytes]] = []
        self.peak_rss = 0
        self.peak_pss = 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="rss", daemon=True)

    def __enter__(self) -> Workers:
        try:
            for cmd in self.commands:
                self.procs.append(spawn(cmd, self.env, self.cwd, self.log))
        except BaseException:
            self.stop()
            raise
        self._sampler.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def exited(self) -> list[int]:
        """Exit codes of the leaders that have already exited."""
        return [p.returncode for p in self.procs if p.poll() is not None]

    def _sample(self) -> None:
        while not self._done.wait(self.sample_every):
            members = [m for p in self.procs for m in session_members(p.pid).items()]
            self.peak_rss = max(self.peak_rss, sum(rss for _, (_, rss) in members))
            self.peak_pss = max(self.peak_pss, sum(pss(pid) for pid, _ in members))

    def stop(self) -> None:
        self._done.set()
        if self._sampler.is_alive():
            self._sampler.join(timeout=5)
        threads = [
            threading.Thread(target=stop, args=(p, self.grace), daemon=True) for p in self.procs
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.grace + 15)
