"""What the SQL stores share to enforce concurrency and rate limits when claiming.

A claim statement skips every job whose key is already full (see the stores' `ELIGIBLE`
conditions), but it judges each job by the store as it was before the statement: two
jobs of one key in one batch both pass. `settle` then decides, in the claim's own
transaction, which claimed jobs stay claimed, in claim order, and which are handed back
(queued again, as if never claimed) and which starts enter a rate window. Jobs without
limits never reach it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import rows

Row = Mapping[str, Any]

#: Counts, for a key, the running jobs (concurrency) or the starts in the window (rate),
#: as the store holds them now, this claim's own jobs included.
Count = Callable[[str], int]


@dataclass
class Settled:
    """The verdict on a claimed batch: seqs to hand back, and starts to record as
    (rate key, when the start leaves its window, job id)."""

    undo: list[int] = field(default_factory=list)
    starts: list[tuple[str, float, str]] = field(default_factory=list)


def limited(row: Row) -> bool:
    """Whether a claimed row (keyed by column name) has a limit to check."""
    return row["concurrency"] is not None or row["rate_limit"] is not None


def settle(claimed: Sequence[Row], now: float, running: Count, window: Count) -> Settled:
    """Which of `claimed` (this claim's rows, by column name) exceed their limits.

    `running(key)` counts this claim's own jobs too (they are running in its transaction);
    `window(key)` counts the starts recorded before it (its own are not recorded yet).
    Earlier jobs in claim order keep their slots first.
    """
    verdict = Settled()
    ordered = sorted((r for r in claimed if limited(r)), key=rows.claim_order)
    held: dict[str, int] = {}  # concurrency key -> slots left for this claim's jobs
    own = _tally(r["concurrency_key"] for r in ordered if r["concurrency"] is not None)
    kept = []
    for r in ordered:
        key = r["concurrency_key"]
        if r["concurrency"] is not None:
            if key not in held:
                held[key] = r["concurrency"] - (running(key) - own[key])
            if held[key] <= 0:
                verdict.undo.append(r["seq"])
                continue
            held[key] -= 1
        kept.append(r)
    room: dict[str, int] = {}
    for r in kept:
        key = r["rate_key"]
        if r["rate_limit"] is None:
            continue
        if key not in room:
            room[key] = r["rate_limit"] - window(key)
        if room[key] <= 0:
            verdict.undo.append(r["seq"])
            continue
        room[key] -= 1
        verdict.starts.append((key, now + r["rate_period"], r["id"]))
    return verdict


def _tally(keys: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts
