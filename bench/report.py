"""Turn the outcomes of every round into the tables of bench/RESULTS.md.

A figure is the median over the rounds a contender completed, with the min-max range.
A ratio compares backburner with the best peer on the same kind of store *in the same
round* (rounds interleave the contenders, so noise hits both alike); its median and
range over the rounds are reported. Rates: higher is better; latency and memory: lower.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.contenders import Contender
from bench.measure import Outcome


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    higher_is_better: bool
    show: Callable[[float], str]


METRICS = (
    Metric("enqueue", "enqueue jobs/s", True, lambda v: f"{v:,.0f}"),
    Metric("drain", "drain jobs/s", True, lambda v: f"{v:,.0f}"),
    Metric("p50", "idle p50 ms", False, lambda v: f"{v * 1000:.2f}"),
    Metric("p99", "idle p99 ms", False, lambda v: f"{v * 1000:.2f}"),
    Metric("rss", "peak RSS MB", False, lambda v: f"{v / 2**20:.0f}"),
    Metric("pss", "peak PSS MB", False, lambda v: f"{v / 2**20:.0f}"),
)
BY_KEY = {m.key: m for m in METRICS}

KEPT = "## Other measurements"

# What each backburner contender is held to, per store kind: (figure, op, bound, against)
# where against is "peer" (ratio to the best peer of the round), "floor" (ratio to the
# store's yardstick of the round, see Contender.floor) or "abs" (seconds).
# Issue 7 set the drain and latency bounds; issue 20 the enqueue, floor, p50 and PSS ones.
TARGETS: dict[str, list[tuple[str, str, float, str]]] = {
    "sqlite": [
        ("enqueue", ">=", 1.0, "peer"),
        ("drain", ">=", 2.0, "peer"),
        ("p50", "<=", 0.002, "abs"),
        ("p99", "<=", 0.010, "abs"),
        ("pss", "<=", 1.0, "peer"),
    ],
    "redis": [
        ("enqueue", ">=", 1.0, "peer"),
        ("drain", ">=", 1.0, "floor"),
        ("p50", "<=", 1.0, "peer"),
        ("pss", "<=", 1.0, "peer"),
    ],
    "postgres": [("enqueue", ">=", 1.5, "peer"), ("drain", ">=", 1.5, "peer")],
}


def _spread(values: Sequence[float], show: Callable[[float], str]) -> str:
    if not values:
        return "-"
    mid = show(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({show(min(values))}-{show(max(values))})"


def _values(outcomes: Sequence[Outcome], key: str) -> list[float]:
    return [v for o in outcomes if (v := getattr(o, key)) is not None]


def figures_table(contenders: Sequence[Contender], outcomes: Sequence[Outcome]) -> str:
    """One row per contender: median (min-max) of each figure, lost and duplicated jobs."""
    head = ["contender", "store", *(m.title for m in METRICS), "lost", "dup", "rounds ok"]
    rows = [head, ["---"] * len(head)]
    for c in contenders:
        mine = [o for o in outcomes if o.name == c.name]
        ok = sum(o.status == "ok" for o in mine)
        name = f"**{c.name}**" if c.ours else c.name
        cells = [_spread(_values(mine, m.key), m.show) for m in METRICS]
        lost, dup = sum(o.lost for o in mine), sum(o.dup for o in mine)
        rows.append([name, c.store, *cells, str(lost), str(dup), f"{ok}/{len(mine)}"])
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def _best(values: dict[str, float], higher: bool) -> tuple[str, float] | None:
    if not values:
        return None
    pick = max if higher else min
    name = pick(values, key=lambda n: values[n])
    return name, values[name]


def ratios(contenders: Sequence[Contender], outcomes: Sequence[Outcome]) -> list[dict[str, str]]:
    """Per store kind with a backburner contender: ratio cells and target verdicts."""
    rows = []
    for ours in (c for c in contenders if c.ours):
        peers = [c.name for c in contenders if c.store == ours.store and not c.ours and not c.floor]
        floors = [c.name for c in contenders if c.store == ours.store and c.floor]
        if not peers:
            continue
        row = {"store": ours.store, "backburner": ours.name, "peers": ", ".join(peers)}
        for m in METRICS:
            row[m.key] = _ratio_cell(ours.name, peers, m, outcomes)
        row["verdict"] = _verdicts(ours, peers, floors, outcomes)
        rows.append(row)
    return rows


def _per_round(
    ours: str, peers: list[str], m: Metric, outcomes: Sequence[Outcome]
) -> tuple[list[float], list[str]]:
    """backburner / best peer in each round both have the figure, and who that peer was."""
    ratios, winners = [], []
    for rnd in sorted({o.round for o in outcomes}):
        here = {o.name: getattr(o, m.key) for o in outcomes if o.round == rnd}
        mine = here.get(ours)
        best = _best({p: v for p in peers if (v := here.get(p)) is not None}, m.higher_is_better)
        if mine is None or best is None or best[1] == 0:
            continue
        ratios.append(mine / best[1])
        winners.append(best[0])
    return ratios, winners


def _ratio_cell(ours: str, peers: list[str], m: Metric, outcomes: Sequence[Outcome]) -> str:
    per_round, winners = _per_round(ours, peers, m, outcomes)
    if not per_round:
        return "-"
    leader = max(set(winners), key=winners.count)
    return f"{_spread(per_round, lambda v: f'{v:.2f}x')} vs {leader}"


def _verdicts(
    ours: Contender, peers: list[str], floors: list[str], outcomes: Sequence[Outcome]
) -> str:
    """Each target of this store kind: met or not, on the medians."""
    parts = []
    for key, op, bound, against in TARGETS.get(ours.store, []):
        if against == "abs":
            mine = _values([o for o in outcomes if o.name == ours.name], key)
            value = statistics.median(mine) if mine else None
            shown = "-" if value is None else f"{value * 1000:.2f} ms"
            goal = f"{bound * 1000:g} ms"
        else:
            others = peers if against == "peer" else floors
            if not others:
                continue
            per_round, _ = _per_round(ours.name, others, BY_KEY[key], outcomes)
            value = statistics.median(per_round) if per_round else None
            shown = "-" if value is None else f"{value:.2f}x"
            goal = f"{bound:g}x" + (f" {others[0]}" if against == "floor" else "")
        met = value is not None and (value >= bound if op == ">=" else value <= bound)
        parts.append(f"{key} {shown} (target {op} {goal}: {'met' if met else 'NOT met'})")
    return "; ".join(parts)


def ratios_table(rows: list[dict[str, str]]) -> str:
    head = ["store", "backburner vs best peer", *(m.title for m in METRICS)]
    lines = [head, ["---"] * len(head)]
    for r in rows:
        lines.append(
            [r["store"], f"{r['backburner']} vs {{{r['peers']}}}", *(r[m.key] for m in METRICS)]
        )
    return "\n".join("| " + " | ".join(x) + " |" for x in lines)


def raw_table(outcomes: Sequence[Outcome]) -> str:
    """Every contender run, in the order they ran."""
    head = ["round", "contender", *(m.title for m in METRICS), "lost", "dup", "status"]
    rows = [head, ["---"] * len(head)]
    for o in outcomes:
        cells = [m.show(v) if (v := getattr(o, m.key)) is not None else "-" for m in METRICS]
        status = o.status if len(o.status) < 60 else o.status[:57] + "..."
        rows.append([str(o.round), o.name, *cells, str(o.lost), str(o.dup), status])
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def problems(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per contender run that did not complete."""
    return [f"{o.name} (round {o.round}): {o.status}" for o in outcomes if o.status != "ok"]


METHOD = """\
How it was measured (`bench/compare.py`; apps in `bench/peers/`):

- Every job, for every library, is the same function: one RPUSH of `seq:started:enqueued`
  to a Redis list, one list per contender and round, from which lost and duplicated jobs
  are counted and latency is read. Every library runs with its documented defaults
  (default log level, result storage and durability included) and a concurrency of 2.
- **enqueue**: {jobs:,} jobs, one per call, from one process (as a web request does),
  with the connection opened beforehand and no worker running (this fills the queue).
- **drain**: then 2 worker processes start; throughput runs from the first job's start
  to the last one's, so start-up is excluded.
- **idle p50/p99**: then, on the idle workers, {latency} sequential jobs, each enqueued
  {pause:g} s after the previous one started; enqueue-to-start time.
- **peak RSS**: the highest sum of RSS over every process of the workers' sessions,
  sampled every 0.2 s from start to stop (shared pages count once per process).
- **peak PSS**: the same sum of PSS (`/proc/PID/smaps_rollup`): a page shared by n
  processes counts 1/n in each, so pages a forked tree shares count once in the sum.
- **lost / dup**: jobs whose mark never appeared / extra marks, over all rounds.
- {rounds} rounds; in each, the contenders run one after another in an order rotated
  every round. A figure is the median over rounds (min-max). A ratio is backburner's
  figure over the best peer's on the same kind of store *in the same round*, then the
  median (min-max) over rounds: above 1 is better for rates, below 1 for latency and RSS.
"""


def render(
    *,
    command: str,
    date: str,
    source: str,
    machine: dict[str, str],
    versions: dict[str, str],
    plan: dict[str, object],
    rounds: int,
    contenders: Sequence[Contender],
    outcomes: Sequence[Outcome],
    kept: str = "",
) -> str:
    """The whole of RESULTS.md: this run's part, then `kept` (see `kept_part`)."""
    rows = ratios(contenders, outcomes)
    verdicts = [f"- **{r['backburner']}**: {r['verdict']}" for r in rows]
    hows = [f"- {c.name}: {c.how}" for c in contenders]
    issues = [f"- {p}" for p in problems(outcomes)] or ["- none"]
    parts = [
        "# backburner against its peers",
        "",
        "Generated by `python -m bench` (`make bench`); do not edit by hand. The sections",
        f"after {KEPT!r} come from the commands they name and are kept by each run.",
        "",
        f"- command: `{command}`",
        f"- date: {date}",
        f"- backburner source: {source}",
        "",
        "## Figures",
        "",
        figures_table(contenders, outcomes),
        "",
        "## backburner / best peer on the same store",
        "",
        ratios_table(rows),
        "",
        "Targets (issues 7 and 20; ratios to the best peer unless a floor is named):",
        "",
        *verdicts,
        "",
        "## Runs that did not complete",
        "",
        *issues,
        "",
        "## Method",
        "",
        METHOD.format(rounds=rounds, **plan),
        "Workers:",
        "",
        *hows,
        "",
        "## Machine",
        "",
        *_bullets(machine),
        "",
        "## Versions",
        "",
        *_bullets(versions),
        "",
        "## Every run",
        "",
        raw_table(outcomes),
        "",
    ]
    return "\n".join(parts) + (f"\n{kept.rstrip()}\n" if kept else "")


def kept_part(text: str) -> str:
    """What a run keeps of an earlier RESULTS.md: the `KEPT` heading and all after it,
    the figures of the other benchmarks (scale, real work, dashboard...), which a run of
    the peer harness does not measure."""
    at = text.find(f"\n{KEPT}\n")
    return text[at + 1 :] if at >= 0 else ""


def summary(text: str) -> str:
    """The part of RESULTS.md worth printing: the tables and the target verdicts."""
    return text.split("## Runs that did not complete")[0].split("## Figures")[1].strip()


def _bullets(pairs: dict[str, str]) -> list[str]:
    return [f"- {k}: {v}" for k, v in pairs.items()]
