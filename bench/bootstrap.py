"""Make the peers' virtualenv, then run the comparison inside it.

The peers are installed with pip, unpinned, into bench/.peers/venv, with backburner
itself in editable mode (so the benchmark always measures the working tree); the
versions installed are recorded in RESULTS.md. The venv is reused while the list of
requirements and pyproject.toml are unchanged; `--reinstall` upgrades everything.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".peers" / "venv"
PEERS = (
    "huey",
    "rq",
    "celery[redis]",
    "dramatiq[redis]",
    "procrastinate",
    "redis",
    "psycopg[binary]",
)
PIP_TIMEOUT = 1200.0


def _python() -> Path:
    return VENV / "bin" / "python"


def _stamp() -> str:
    """Changes when what the venv should hold changes."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(" ".join(PEERS).encode())
    return digest.hexdigest()


def _pip(*args: str) -> None:
    cmd = [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    print(f"$ {shlex.join(cmd)}", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=PIP_TIMEOUT)


def ensure(reinstall: bool = False) -> None:
    """Create or refresh the venv when needed."""
    marker = VENV / ".bench-installed"
    stamp = _stamp()
    if not reinstall and marker.exists() and marker.read_text() == stamp:
        return
    if not _python().exists():
        print(f"creating the peers' virtualenv in {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
    upgrade = ["--upgrade"] if reinstall else []
    _pip(*upgrade, *PEERS)
    leftover = ROOT / "src" / "backburner.egg-info"
    existed = leftover.exists()
    _pip(*upgrade, "-e", f"{ROOT}[redis,postgres]")
    if not existed:  # setuptools leaves its build metadata in src/: leave src/ as it was
        shutil.rmtree(leftover, ignore_errors=True)
    marker.write_text(stamp)


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def main() -> None:
    argv = sys.argv[1:]
    if in_venv():
        from bench.compare import main as compare

        compare(argv)
        return
    try:
        ensure(reinstall="--reinstall" in argv)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise SystemExit(f"could not install the peers into {VENV}: {exc}") from None
    env = {**os.environ, "BENCH_COMMAND": shlex.join(["python", "-m", "bench", *argv])}
    python = str(_python())
    os.execve(python, [python, "-m", "bench", *argv], env)
