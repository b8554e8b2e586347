"""What every store's dashboard methods share: whether a job matches a JobFilter, the
cursor of a page (a job's place in enqueue order, as text), history points summed per
step."""

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


def summed(points: Iterable[tuple[tuple[float, str, str], int]], step: float) -> list[HistoryPoint]:
    """History points ((minute, queue, outcome), count) summed per `step` seconds, oldest
    first, for the stores that read every minute (see Store.history)."""
    sums: dict[tuple[float, str, str], int] = {}
    for (minute, queue, outcome), n in points:
        key = (minute // step * step, queue, outcome)
        sums[key] = sums.get(key, 0) + n
    return [HistoryPoint(*key, n) for key, n in sorted(sums.items())]
