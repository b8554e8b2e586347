"""What every store's dashboard methods share: whether a job matches a JobFilter, and
the cursor of a page (a job's place in enqueue order, as text)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..job import PENDING, JobRecord, pending_status
from .base import HistoryPoint, JobFilter


def matches(record: JobRecord, filter: JobFilter, now: float) -> bool:
    """Whether `record` (as stored: pending jobs all QUEUED) matches every field of
    `filter` at `now`, for the stores that test jobs one by one."""
    status = pending_status(record.run_at, now) if record.status in PENDING else record.status
    return (
        (filter.status is None or status is filter.status)
        and (filter.queue is None or record.queue == filter.queue)
        and (filter.task is None or record.task == filter.task)
        and (filter.search is None or found(record, filter.search))
    )


def exact_match(
    get: Callable[[str], JobRecord | None], filter: JobFilter, now: float
) -> JobRecord | None:
    """The job whose id `filter.search` is (read by `get`, light), if it matches the
    other filters: a search for an id finds that job alone, however old (first page)."""
    if filter.search is None:
        return None
    record = get(filter.search)
    return record if record is not None and matches(record, filter, now) else None


def found(record: JobRecord, text: str) -> bool:
    """Whether `text` is the job's id, or is in its task name or its arguments."""
    return record.id == text or text in record.task or text in record.payload


def check_step(step: int) -> int:
    """`step` of `Store.history`, checked: a whole number of minutes, in seconds."""
    if step < 60 or step % 60:
        raise ValueError(f"history step must be a multiple of 60 seconds, not {step!r}")
    return int(step)


def bucketed(points: Iterable[HistoryPoint], step: int) -> list[HistoryPoint]:
    """Minute points summed into buckets of `step` seconds, sorted as `history` gives
    them (for the stores that sum in Python)."""
    sums: dict[tuple[float, str, str], int] = {}
    for p in points:
        key = (p.minute - p.minute % step, p.queue, p.outcome)
        sums[key] = sums.get(key, 0) + p.count
    return [HistoryPoint(*key, n) for key, n in sorted(sums.items())]


def cursor(seq: int) -> str:
    """The opaque cursor of a page ending at the job numbered `seq` in enqueue order."""
    return str(seq)


def after_seq(after: str | None) -> int | None:
    """The enqueue number a cursor holds; ValueError naming the problem for a bad one."""
    if after is None:
        return None
    try:
        return int(after)
    except ValueError:
        raise ValueError(
            f"invalid page cursor {after!r}: pass the `after` of a page find_jobs returned"
        ) from None
