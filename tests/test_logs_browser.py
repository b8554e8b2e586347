"""The job status page in a real browser (headless Chromium via Playwright): log lines
and progress arrive live from the event stream while a real worker runs the job, served
by gunicorn; without EventSource the page polls and shows the same. Skipped locally
without chromium or playwright, failed under CI."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backburner import Backburner, JobStatus

from . import logsapp
from .browser import chromium
from .helpers import SRC, TESTS, wait_until, worker_processes
from .servers import free_port, port_open, require
from .test_servers import running

pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/jobs.db"


@pytest.fixture
def bb(url: str) -> Iterator[Backburner]:
    app = logsapp.build(url)
    yield app
    app.close()


@pytest.fixture
def site(url: str, tmp_path: Path) -> Iterator[str]:
    """gunicorn (3 sync workers: a page, its event stream and a poll at once) serving
    tests/logsweb.py, and a backburner worker, on one store: the base URL."""
    binary = Path(sys.executable).parent / "gunicorn"
    if not binary.exists():
        require("gunicorn", f"no {binary}; pip install -e '.[dev]'")
    port = free_port()
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": f"{TESTS}{os.pathsep}{SRC}"}
    args: list[str | Path] = [
        binary,
        "-w",
        "3",
        "-k",
        "sync",
        "-b",
        f"127.0.0.1:{port}",
        "logsweb:app",
    ]
    with (
        running(args, tmp_path / "gunicorn.log", env=env, cwd=TESTS),
        worker_processes(tmp_path) as start,
    ):
        start(url, "-p", "1", app="logsapp:bb")
        wait_until(lambda: port_open("127.0.0.1", port), timeout=60)
        yield f"http://127.0.0.1:{port}"


def lines_shown(page: Any) -> list[str]:
    shown: list[str] = page.locator("#log .line").all_inner_texts()
    return shown


def watch_live(browser: Any, bb: Backburner, site: str, tmp_path: Path, stream: bool) -> None:
    job = bb.tasks["ticks"].delay(16, 0.3)  # about 5 s
    page = browser.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url.split("?")[0]))
    if not stream:
        page.add_init_script("delete window.EventSource")
    page.goto(f"{site}/jobs/{job.id}", wait_until="domcontentloaded")
    # lines and progress arrive while the job still runs, without a reload
    wait_until(lambda: len(lines_shown(page)) >= 4, timeout=30, interval=0.05)
    width = page.eval_on_selector("#fill", "e => parseFloat(e.style.width)")
    assert page.inner_text("#status") == "running" and 0 < width < 100
    assert job.refresh().status is JobStatus.RUNNING
    if stream:
        page.screenshot(path=str(tmp_path / "status-page-live.png"), full_page=True)
    wait_until(lambda: page.inner_text("#status") == "succeeded", timeout=30, interval=0.05)
    shown = lines_shown(page)
    assert [text.split()[-2:] for text in shown] == [["tick", str(i)] for i in range(1, 17)]
    assert all(text.startswith("#1 stdout") for text in shown)
    assert page.inner_text("#message") == "step 16"
    events, logs = f"{site}/jobs/{job.id}/events", f"{site}/jobs/{job.id}/logs"
    if stream:  # the stream did it all: no poll
        assert events in asked and logs not in asked, asked
    else:
        assert events not in asked and logs in asked, asked
    if stream:
        page.screenshot(path=str(tmp_path / "status-page-done.png"), full_page=True)
        shots = os.environ.get("BACKBURNER_SCREENSHOTS")  # keep them to look at
        if shots:
            for name in ("status-page-live.png", "status-page-done.png"):
                shutil.copy(tmp_path / name, Path(shots) / name)
    page.close()


def test_the_status_page_shows_log_lines_and_progress_as_they_arrive(
    browser: Any, bb: Backburner, site: str, tmp_path: Path
) -> None:
    watch_live(browser, bb, site, tmp_path, stream=True)


def test_without_eventsource_the_status_page_polls_and_shows_the_same(
    browser: Any, bb: Backburner, site: str, tmp_path: Path
) -> None:
    watch_live(browser, bb, site, tmp_path, stream=False)
