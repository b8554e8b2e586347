"""The web app: `uvicorn reports.main:app`.

`delay()` stores the job before it returns (that is what makes it durable): a write to a
file or a round trip to a server, which blocks. An `async def` route must not block its
event loop, or every other request waits meanwhile (for up to the store's timeout if the
store is down), so these routes run the store calls in FastAPI's thread pool with
`run_in_threadpool`. A plain `def` route gets the same from FastAPI without asking.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from .jobs import bb, build_report


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    bb.close()  # the store's connections, at shutdown


app = FastAPI(title="reports", lifespan=lifespan)


class ReportRequest(BaseModel):
    user_id: int
    days: int = Field(default=7, ge=1, le=366)


class Enqueued(BaseModel):
    job_id: str
    status: str
    status_url: str


class JobInfo(BaseModel):
    """A job as the Flask job API shows it: the error's exception type only, as an error
    message may hold secrets."""

    id: str
    task: str
    status: str
    attempts: int
    progress: dict[str, Any] | None
    result: Any = None
    error: str | None = None


@app.post("/reports", status_code=202)
async def request_report(report: ReportRequest, response: Response) -> Enqueued:
    """Enqueue a report; 202 with the job's status URL (also in Location)."""
    job = await run_in_threadpool(build_report.delay, report.user_id, report.days)
    url = app.url_path_for("job_status", job_id=job.id)
    response.headers["Location"] = url
    return Enqueued(job_id=job.id, status=job.status.value, status_url=url)


@app.get("/jobs/{job_id}")
async def job_status(job_id: Annotated[str, Path(max_length=64)]) -> JobInfo:
    """The job's status, progress and, once it succeeded, its result; 404 if unknown."""
    job = await run_in_threadpool(bb.get_job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="no such job")
    return JobInfo(
        id=job.id,
        task=job.task,
        status=job.status.value,
        attempts=job.attempts,
        progress=job.progress,
        result=job.result,
        error=job.error.partition(":")[0] if job.error else None,
    )
