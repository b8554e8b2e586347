"""Single `delay()` on Redis: backburner (a base tree and this one) against Huey.

    python -m bench.single_enqueue --base /path/to/base/src [--rounds 3] [--calls 2000]

Starts a redis-server of its own (so INFO commandstats counts only these calls), then in
alternating rounds (base, branch, huey, base, branch, huey, ...) runs each contender in a
fresh process: `delay()` x calls of a three-argument task, as the peer harness does.
Prints per round the client rate, the process CPU per call, and the server time per call
of the one command each enqueue sends (EVALSHA for backburner, LPUSH for Huey); then
medians and the ratios of each backburner tree to Huey. Huey runs in the peers'
virtualenv (bench/.peers/venv, or --huey-python).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def child(kind: str, url: str, calls: int) -> None:
    """One round in this process: print {rate, cpu_us, server_us} as JSON."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    if kind == "huey":
        from huey import RedisHuey  # type: ignore[import-not-found]  # the peers' venv has it

        huey = RedisHuey("bench", url=url)

        @huey.task()  # type: ignore[misc]
        def record(key: str, seq: int, enqueued: float) -> None:
            pass

        def send(i: int) -> None:
            record("k", i, time.time())

        command = "lpush"
    else:
        from backburner import Backburner

        bb = Backburner(url)

        @bb.task(name="bench.record")
        def record_bb(key: str, seq: int, enqueued: float) -> None:
            pass

        def send(i: int) -> None:
            record_bb.delay("k", i, time.time())

        command = "evalsha"
    for i in range(200):  # warm up: connections, scripts loaded
        send(i)
    client.config_resetstat()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        send(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    client.flushdb()
    print(
        json.dumps(
            {
                "rate": calls / wall,
                "cpu_us": cpu / calls * 1e6,
                "server_us": float(stats.get("usec_per_call", 0.0)),
            }
        )
    )


def start_redis(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not on PATH")
    port = 20000 + os.getpid() % 20000
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.terminate()
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("backburner", "huey"))
    parser.add_argument("--url")
    parser.add_argument("--base", help="src/ folder of the base tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--huey-python", default=str(ROOT / "bench/.peers/venv/bin/python"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.calls)
        return
    contenders = {
        "branch": (sys.executable, str(ROOT / "src"), "backburner"),
        "huey": (args.huey_python, "", "huey"),
    }
    if args.base:
        contenders = {"base": (sys.executable, args.base, "backburner"), **contenders}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as folder:
        proc, url = start_redis(folder)
        try:
            for r in range(args.rounds):
                for name, (python, src, kind) in contenders.items():
                    env = {
                        **os.environ,
                        "PYTHONPATH": os.pathsep.join(filter(None, [src, str(ROOT)])),
                    }
                    out = subprocess.run(
                        [
                            python,
                            "-m",
                            "bench.single_enqueue",
                            "--child",
                            kind,
                            "--url",
                            url,
                            "--calls",
                            str(args.calls),
                        ],
                        env=env,
                        cwd=ROOT,
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    row = json.loads(out.strip().splitlines()[-1])
                    results[name].append(row)
                    print(
                        f"round {r + 1} {name:7s} {row['rate']:8,.0f} /s  "
                        f"cpu {row['cpu_us']:6.1f} us  server {row['server_us']:5.1f} us",
                        flush=True,
                    )
        finally:
            proc.terminate()
            proc.wait()
    med = {
        n: {k: statistics.median(x[k] for x in rows) for k in rows[0]}
        for n, rows in results.items()
    }
    for name, m in med.items():
        ratios = [a["rate"] / h["rate"] for a, h in zip(results[name], results["huey"])]
        print(
            f"median {name:7s} {m['rate']:8,.0f} /s  cpu {m['cpu_us']:6.1f} us  server "
            f"{m['server_us']:5.1f} us  rate vs huey {m['rate'] / med['huey']['rate']:.2f}x "
            f"(rounds {', '.join(f'{x:.2f}' for x in ratios)})"
        )


if __name__ == "__main__":
    main()
