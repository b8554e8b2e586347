"""The dashboard's statements, shared by the SQL stores: finding and counting jobs with
bounded work, and deleting finished jobs.

How `find_jobs` stays bounded at any size: it looks at a window of the jobs, newest
first (seq, the primary key, descending) from its cursor, holding at most `scan_limit`
jobs, and filters only there:

- finished jobs of a status: a partial index lists just those rows by seq
  (bb_jobs_succeeded, bb_jobs_failed, bb_jobs_cancelled; only rows that end so enter
  them), so the window is the newest `scan_limit` of them, found index-only, and a few
  failed jobs among a million are all found, however many pending jobs are newer;
- scheduled, running and waiting jobs: few, and in partial indexes of their own (the
  claim's, bb_jobs_lease, bb_jobs_waiting), in another order: the window is the newest
  `scan_limit` of them, their seqs read from there and sorted (`+seq`: the planner must
  not walk the primary key instead, past every other job), and the page reads those
  seqs' rows only, so a backlog of newer queued jobs hides none of them;
- any other filter: the window is the `scan_limit` sequence numbers below the cursor (seq
  only grows, so it holds at most that many jobs, fewer where some were deleted), read
  as one range of the primary key: no index is needed, and none is written on enqueue.

A full page ends the scan early. When the window ends before the page is full and older
jobs remain, the page says how many jobs it examined (`JobPage.scanned`) and its cursor
resumes below the window.

Statements are built with the store's placeholder style (`mark("name")`: ":name" for
SQLite, "%(name)s" for psycopg) and its substring function (instr, strpos: both take
the text, then what to find), and `{jobs}` for the jobs table's name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..job import JobRecord, JobStatus
from .base import JobFilter, JobPage
from .dashboard import after_seq, cursor, exact_match
from .rows import JOB_SELECT_LIGHT, job_records

#: Statuses a partial index lists by seq (bb_jobs_succeeded, _failed, _cancelled).
INDEXED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
#: Statuses a partial index lists in another order (bb_jobs_due or bb_jobs_claim,
#: bb_jobs_lease, bb_jobs_waiting), and the condition that finds them there.
SORTED = {
    JobStatus.SCHEDULED: "status = 'queued' AND run_at > {now}",
    JobStatus.RUNNING: "status = 'running'",
    JobStatus.WAITING: "status = 'waiting'",
}

Mark = Callable[[str], str]
#: Runs a statement (its `{jobs}` filled in) with named parameters, returning its rows.
Query = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]
_TOP = 2**63 - 1  # above any seq


class Window(NamedTuple):
    """The jobs a call looks at: seq from `low` to `high`; `complete` when no older job
    is left out; `walked`: how many jobs it holds, when known."""

    low: int
    high: int
    complete: bool
    walked: int | None


def sqlite_hint(filter: JobFilter) -> str:
    """The `{hint}` of `window_sql` for SQLite."""
    if filter.status in INDEXED:
        return f" INDEXED BY bb_jobs_{filter.status.value}"
    if filter.status in SORTED:
        return ""  # the rows of a list of seqs
    return " NOT INDEXED"  # the rowid range is still used: NOT INDEXED is about indexes


def indexed(filter: JobFilter) -> str | None:
    """The status whose partial index the window walks, as a literal; None: the window
    is a range of seq. (A literal, not a parameter: the planner can then match the
    partial index.)"""
    return f"'{filter.status.value}'" if filter.status in INDEXED else None


def sorted_sql(filter: JobFilter, mark: Mark) -> str | None:
    """For a SORTED status, the WHERE clause finding its jobs in their partial index
    (`+seq`: not through the primary key); else None."""
    if filter.status not in SORTED:
        return None
    return SORTED[filter.status].format(now=mark("now"))


def extent_sql(
    filter: JobFilter, below: int | None, now: float, mark: Mark
) -> tuple[str, dict[str, Any]]:
    """The statement finding the window: for an indexed or sorted status, (jobs in it,
    lowest seq in it, None); else (None, newest seq below the cursor, oldest seq stored).
    Add `scan` to its parameters."""
    params: dict[str, Any] = {} if below is None else {"below": below}
    under = "" if below is None else f"seq < {mark('below')}"
    status, listed = indexed(filter), sorted_sql(filter, mark)
    if status is not None or listed is not None:
        order = "seq"
        if listed is not None:
            order, under, params["now"] = "+seq", under.replace("seq", "+seq"), now
        where = (listed or f"status = {status}") + (f" AND {under}" if under else "")
        sql = (
            f"SELECT count(*), min(seq), NULL FROM (SELECT seq FROM {{jobs}} WHERE {where} "
            f"ORDER BY {order} DESC LIMIT {mark('scan')}) AS walked"
        )
        return sql, params
    where = f" WHERE {under}" if under else ""
    sql = f"SELECT NULL, (SELECT max(seq) FROM {{jobs}}{where}), (SELECT min(seq) FROM {{jobs}})"
    return sql, params


def kept(filter: JobFilter, now: float, mark: Mark, find: str) -> tuple[str, dict[str, Any]]:
    """WHERE clause that keeps, of the window's rows, those matching every filter."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    status = filter.status
    if status is JobStatus.SCHEDULED or status is JobStatus.QUEUED:
        due = ">" if status is JobStatus.SCHEDULED else "<="
        clauses.append(f"status = 'queued' AND run_at {due} {mark('now')}")
        params["now"] = now
    elif status is not None:
        clauses.append(f"status = '{status.value}'")
    for column in ("queue", "task"):
        value = getattr(filter, column)
        if value is not None:
            clauses.append(f"{column} = {mark(column)}")
            params[column] = value
    if filter.search is not None:
        text = mark("search")
        clauses.append(f"(id = {text} OR {find}(task, {text}) > 0 OR {find}(payload, {text}) > 0)")
        params["search"] = filter.search
    return " AND ".join(["TRUE", *clauses]), params


def window_sql(
    filter: JobFilter, now: float, mark: Mark, find: str, select: str
) -> tuple[str, dict[str, Any]]:
    """`SELECT {select}` over the rows of the window [`low`, `high`] (seq) that match
    the filter, newest first (add `low`, `high` and `limit` to the parameters).

    `{hint}` follows the table's name: SQLite's planner is told which way to read the
    window (the status's partial index, or the primary key's range: left to itself it
    may walk a claim index for queued jobs and sort them all); empty for PostgreSQL."""
    keep, params = kept(filter, now, mark, find)
    window = f"seq >= {mark('low')} AND seq <= {mark('high')}"
    listed = sorted_sql(filter, mark)
    if listed is not None:  # the rows of the window's seqs, read from the partial index
        low, high = mark("low"), mark("high")
        window = (
            f"seq IN (SELECT seq FROM {{jobs}} WHERE {listed} AND +seq >= {low} AND +seq <= {high})"
        )
    sql = (
        f"SELECT {select} FROM {{jobs}}{{hint}} WHERE {window} "
        f"AND {keep} ORDER BY seq DESC LIMIT {mark('limit')}"
    )
    return sql, params


def window(
    query: Query, filter: JobFilter, below: int | None, now: float, mark: Mark, scan: int
) -> Window | None:
    """The window below the cursor `below` (None: from the newest job); None when no
    job is there."""
    sql, params = extent_sql(filter, below, now, mark)
    [(count, low, oldest)] = query(sql, {**params, "scan": scan})
    if indexed(filter) is not None or filter.status in SORTED:
        if not count:
            return None
        return Window(low, _TOP if below is None else below - 1, count < scan, count)
    newest = low
    if newest is None:
        return None
    start = newest - scan + 1
    return Window(max(start, oldest), newest, start <= oldest, None)


def find_page(
    query: Query,
    filter: JobFilter,
    below: int | None,
    *,
    now: float,
    mark: Mark,
    find: str,
    columns: str,
    scan: int,
    limit: int,
    hint: str = "",
) -> tuple[Sequence[Sequence[Any]], str | None, int | None]:
    """`find_jobs`' rows (selected as `columns`, which end with seq), the next page's
    cursor, and `JobPage.scanned`. `hint`: see `window_sql`."""
    found = window(query, filter, below, now, mark, scan)
    if found is None:
        return [], None, None
    sql, params = window_sql(filter, now, mark, find, columns)
    sql = sql.format(jobs="{jobs}", hint=hint)
    rows = query(sql, {**params, "low": found.low, "high": found.high, "limit": limit + 1})
    if len(rows) > limit:
        return rows[:limit], cursor(rows[limit - 1][-1]), None
    if found.complete:
        return rows, None, None
    walked = found.walked
    if walked is None:
        count = (
            f"SELECT count(*) FROM {{jobs}} WHERE seq >= {mark('low')} AND seq <= {mark('high')}"
        )
        walked = query(count, {"low": found.low, "high": found.high})[0][0]
    return rows, cursor(found.low), walked


def count_matching(
    query: Query,
    filter: JobFilter,
    *,
    now: float,
    mark: Mark,
    find: str,
    scan: int,
    cap: int,
    hint: str = "",
) -> int:
    """`count_jobs`: the matches in the newest window, up to `cap`."""
    found = window(query, filter, None, now, mark, scan)
    if found is None or cap <= 0:
        return 0
    sql, params = window_sql(filter, now, mark, find, "1")
    sql = sql.format(jobs="{jobs}", hint=hint)
    params.update(low=found.low, high=found.high, limit=cap)
    return int(query(f"SELECT count(*) FROM ({sql}) AS found", params)[0][0])


#: What `delete_jobs` may delete of the jobs `f` named: finished ones whose dependents
#: have all finished (one that has not may need the result, as in purge).
DELETABLE = (
    "f.status IN ('succeeded', 'failed', 'cancelled') AND NOT EXISTS ("
    "SELECT 1 FROM {deps} AS e JOIN {jobs} AS j ON j.id = e.job_id "
    "WHERE e.dep_id = f.id AND j.status IN ('waiting', 'queued', 'running'))"
)
DELETE_BATCH = 500  # ids per statement: SQLite takes at most 32,766 parameters


class SQLReads:
    """`find_jobs` and `count_jobs` of the SQL stores, written once over each store's
    `_query` and dialect: `_find` (its substring function), `_mark` (how a named parameter
    is written), `_decode` (JSON text to Python) and `_hint` (what follows the table name)."""

    _find: str

    if TYPE_CHECKING:
        scan_limit: int

        def get(self, job_id: str, *, light: bool = False) -> JobRecord | None: ...

        def _query(self, sql: str, params: dict[str, Any]) -> list[Any]: ...

        def _mark(self, name: str) -> str: ...

        def _decode(self, text: str) -> Any: ...

    def _hint(self, filter: JobFilter) -> str:
        return ""

    def _light_get(self, job_id: str) -> JobRecord | None:
        return self.get(job_id, light=True)

    def find_jobs(self, filter: JobFilter, *, after: str | None = None, limit: int = 50) -> JobPage:
        below = after_seq(after)
        now = time.time()
        if below is None and (exact := exact_match(self._light_get, filter, now)) is not None:
            return JobPage([exact], None)
        rows, next_page, scanned = find_page(
            self._query,
            filter,
            below,
            now=now,
            mark=self._mark,
            find=self._find,
            columns=JOB_SELECT_LIGHT,
            scan=self.scan_limit,
            limit=max(1, limit),
            hint=self._hint(filter),
        )
        return JobPage(job_records(rows, now, self._decode), next_page, scanned)

    def count_jobs(self, filter: JobFilter, cap: int) -> int:
        return count_matching(
            self._query,
            filter,
            now=time.time(),
            mark=self._mark,
            find=self._find,
            scan=self.scan_limit,
            cap=cap,
            hint=self._hint(filter),
        )
