"""What a worker child and its supervisor tell each other: one small frozen class each.

Events go from a child to its supervisor (over `reports`, many to a message); commands go
the other way (over a multiprocessing Connection). The supervisor tracks each job by
(job id, fencing token), so an event about an earlier attempt of a job never touches the
current one.

Every class pickles as itself and its fields in order (`__reduce__`): a child sends about
three events per job, and pickle's own way for a frozen dataclass with slots (a state dict,
set field by field) costs two to three times as much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..job import JobRecord


# -- events: child -> supervisor -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claimed:
    """The child holds this attempt now: the supervisor heartbeats its lease until
    `Finished`, and hands it back uncounted if the child dies before `Started`."""

    job_id: str
    token: int
    attempts: int
    max_attempts: int
    retry_backoff: float
    timeout: float | None

    @classmethod
    def of(cls, record: JobRecord) -> Claimed:
        """The event for a job the child just claimed."""
        return cls(
            record.id,
            record.token,
            record.attempts,
            record.max_attempts,
            record.retry_backoff,
            record.timeout,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.job_id, self.token, self.attempts, self.max_attempts)
        return (Claimed, (*args, self.retry_backoff, self.timeout))


@dataclass(frozen=True, slots=True)
class Started:
    """The attempt is running since `at`, the child's time.monotonic() (one clock for the
    whole machine): its timeout counts from then, and its death now costs an attempt."""

    job_id: str
    token: int
    at: float

    def __reduce__(self) -> tuple[Any, ...]:
        return (Started, (self.job_id, self.token, self.at))


@dataclass(frozen=True, slots=True)
class Finished:
    """The child lets go of the attempt: its outcome is recorded (or could not be, and
    its lease will lapse), or it was handed back. The supervisor forgets it."""

    job_id: str
    token: int

    def __reduce__(self) -> tuple[Any, ...]:
        return (Finished, (self.job_id, self.token))


@dataclass(frozen=True, slots=True)
class Exiting:
    """The last event of a child ending normally: whatever it still holds is there because
    recording failed, not because it crashed, so those jobs go back uncounted."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Exiting, ())


Event = Claimed | Started | Finished | Exiting


# -- commands: supervisor -> child -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stop:
    """Finish the jobs started, hand back the others, claim no more, and exit."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Stop, ())


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel was requested for this running job: its `current_job.cancel_requested`
    becomes True."""

    job_id: str

    def __reduce__(self) -> tuple[Any, ...]:
        return (Cancel, (self.job_id,))


Command = Stop | Cancel
