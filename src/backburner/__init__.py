"""backburner: background jobs for Flask and any Python web app.

from backburner import Backburner
bb = Backburner("sqlite:///jobs.db")

@bb.task(retries=3)
def send_email(to: str) -> None: ...

job = send_email.delay("a@example.com")
"""

from .app import Backburner
from .context import current_job
from .errors import BackburnerError, JobFailed, JobTimeout, MissingExtra, Retry, StoreUnavailable
from .flows import Call, Group
from .job import Job, JobRecord, JobStatus
from .logs import LogLine
from .task import Task

__all__ = [
    "Backburner",
    "BackburnerError",
    "Call",
    "Group",
    "Job",
    "JobFailed",
    "JobRecord",
    "JobStatus",
    "JobTimeout",
    "LogLine",
    "MissingExtra",
    "Retry",
    "StoreUnavailable",
    "Task",
    "current_job",
]

# The one place the version is written: pyproject.toml reads this literal at build time
# ([tool.setuptools.dynamic]), so the running code and the built package never disagree.
__version__ = "0.1.0"
