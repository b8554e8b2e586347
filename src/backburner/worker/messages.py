"""What a worker child and its supervisor tell each other: one small immutable class each.

Events go from a child to its supervisor (over `reports`, many to a message); commands go
the other way (over a multiprocessing Connection). The supervisor tracks each job by
(job id, fencing token), so an event about an earlier attempt of a job never touches the
current one.

Each class is a NamedTuple: typed, immutable, matched by name in `match`, and about three
times cheaper to build than a frozen dataclass. A child sends about two events per job
(`Claimed`, `Finished`; a start goes in the `starts` table), many to a message, so on
the wire (`encode`/`decode`) an event is its kind's number and its fields, in marshal's
format: a few hundred nanoseconds a job, where pickling the classes cost several
microseconds (measured: 10 us more CPU per no-op job across the worker tree).
"""

from __future__ import annotations

import marshal
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..job import JobRecord


# -- events: child -> supervisor -------------------------------------------------------
class Claimed(NamedTuple):
    """The child holds this attempt now: the supervisor heartbeats its lease until
    `Finished`, and hands it back uncounted if the child dies before starting it. The
    child marks the start in `cell` of its `starts` table (-1: none free, a `Started`
    event tells instead)."""

    job_id: str
    token: int
    attempts: int
    max_attempts: int
    retry_backoff: float
    timeout: float | None
    cell: int = -1

    @classmethod
    def of(cls, record: JobRecord, cell: int = -1) -> Claimed:
        """The event for a job the child just claimed."""
        return cls(
            record.id,
            record.token,
            record.attempts,
            record.max_attempts,
            record.retry_backoff,
            record.timeout,
            cell,
        )


class Started(NamedTuple):
    """The attempt is running since `at`, the child's time.monotonic() (one clock for the
    whole machine): its timeout counts from then, and its death now costs an attempt.
    Sent only for a job with no cell in the `starts` table; the others start silently."""

    job_id: str
    token: int
    at: float


class Finished(NamedTuple):
    """The child lets go of the attempt: its outcome is recorded (or could not be, and
    its lease will lapse), or it was handed back. The supervisor forgets it."""

    job_id: str
    token: int


class Exiting(NamedTuple):
    """The last event of a child ending normally: whatever it still holds is there because
    recording failed, not because it crashed, so those jobs go back uncounted."""


class Ran(NamedTuple):
    """An attempt ended as `outcome` (a `metrics` outcome) after `duration` seconds: sent
    in the message that already carries its `Finished`, for the supervisor's outcome
    history and metrics counters (which outlive the child). A success is sent once the store
    accepted it (`batching`): one refused, or never recorded, is not counted succeeded."""

    task: str
    queue: str
    outcome: str
    duration: float


Event = Claimed | Started | Finished | Exiting | Ran
_KINDS: tuple[type[Event], ...] = (Claimed, Started, Finished, Exiting, Ran)
_CODES = {kind: code for code, kind in enumerate(_KINDS)}


def encode(events: Iterable[Event]) -> bytes:
    """Events as bytes for `decode` in a process running this same Python."""
    return marshal.dumps([(_CODES[type(e)], tuple(e)) for e in events])


def decode(data: bytes) -> list[Event]:
    """The events `encode` wrote, as themselves."""
    new = tuple.__new__  # the fields are already checked: skip NamedTuple's own __new__
    return [new(_KINDS[code], fields) for code, fields in marshal.loads(data)]


# -- commands: supervisor -> child -----------------------------------------------------
class Stop(NamedTuple):
    """Finish the jobs started, hand back the others, claim no more, and exit."""


class Cancel(NamedTuple):
    """Cancel was requested for this running job: its `current_job.cancel_requested`
    becomes True."""

    job_id: str


Command = Stop | Cancel
