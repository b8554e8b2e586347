"""The dashboard in a real browser (headless Chromium via Playwright) against a real
worker, on SQLite and on PostgreSQL: a failed job found by search, retried from its page
and seen succeeding; a running job's log and progress arriving; a queue paused and
resumed; a read-only user without buttons and refused on POST; a cross-site POST
refused; a `<script>` payload shown as text. The last test saves a screenshot of every
page in artifacts/dashboard/ (kept by CI). Skipped locally without chromium or
playwright, failed under CI.

One browser for the module, and per store one worker (2 processes) and one threaded
server in this process; every wait has a deadline (Playwright's `expect`, `wait_until`).
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backburner import Backburner, Job, JobStatus

from . import dashapp
from .browser import chromium
from .helpers import TESTS, wait_until, worker_processes
from .servers.postgres import with_option

pytestmark = pytest.mark.slow
SHOTS = TESTS.parent / "artifacts" / "dashboard"  # named in the README
WAIT = 30_000  # ms: Playwright's deadline for what a page should show
PAGES = ("overview", "queues", "jobs", "job", "workers", "periodic", "audit")


@dataclass
class Site:
    """A store with a worker running dashapp's tasks, and the dashboard serving it."""

    kind: str
    bb: Backburner
    base: str  # the dashboard's URL, e.g. http://127.0.0.1:PORT/backburner
    folder: Path  # for the tasks' marker files
    shown: dict[str, str] = field(default_factory=dict)  # page name -> job id to show

    def job_url(self, job: Job) -> str:
        return f"{self.base}/jobs/{job.id}"


@dataclass
class Tab:
    """A page, and what went wrong in it: dialogs (alert, confirm), script errors and
    console errors (a Content-Security-Policy violation is one)."""

    page: Any
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    from werkzeug.serving import make_server

    kind = request.param
    folder = tmp_path_factory.mktemp(f"dashboard-{kind}")
    schema = f"bbtest_dash_{uuid.uuid4().hex[:16]}"
    if kind == "sqlite":
        url = f"sqlite:///{folder}/jobs.db"
    else:
        url = with_option(request.getfixturevalue("postgres_server"), f"schema={schema}")
    bb = dashapp.build(url)
    server = make_server("127.0.0.1", 0, dashapp.web(bb), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with worker_processes(folder) as start:
            start(url, "-p", "2", app="dashapp:bb")
            yield Site(kind, bb, f"http://127.0.0.1:{server.server_port}{dashapp.PREFIX}", folder)
    finally:
        server.shutdown()
        bb.close()
        if kind == "postgres":
            drop_schema(request.getfixturevalue("postgres_server"), schema)


def drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def open_tab(context: Any) -> Tab:
    tab = Tab(context.new_page())

    def dialog(d: Any) -> None:
        tab.problems.append(f"dialog {d.type}: {d.message}")
        d.dismiss()

    def console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            tab.problems.append(f"console: {message.text}")

    def response(answer: Any) -> None:  # said on the console too, without the URL
        # (a browser asks for /favicon.ico of pages that name none: Flask's error pages)
        if answer.status >= 400 and not answer.url.endswith("/favicon.ico"):
            tab.problems.append(f"{answer.status} {answer.request.method} {answer.url}")

    tab.page.on("dialog", dialog)
    tab.page.on("console", console)
    tab.page.on("response", response)
    tab.page.on("pageerror", lambda error: tab.problems.append(f"script error: {error}"))
    return tab


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    """A page of the local user, who may do everything; nothing may go wrong in it."""
    context = browser.new_context()
    tab = open_tab(context)
    yield tab
    context.close()
    assert tab.problems == []


def failed_job(site: Site, text: str) -> Job:
    """A job of `echo` that failed with `text` as its error."""
    job = site.bb.tasks["echo"].delay(text)
    wait_until(lambda: job.refresh().status is JobStatus.FAILED, timeout=60)
    return job


def status_of(page: Any) -> Any:
    return page.locator("#job-status [data-status]")


def last_error(page: Any) -> Any:
    """The traceback of the job's last failed attempt, as its page shows it."""
    return page.locator("[data-testid=attempt] pre").first


def submit_form(page: Any, action: str) -> int:
    """POST a bare form from this page to `action`, as a user's browser would: the
    answer's status code."""
    script = """(action) => {
        const form = document.createElement("form");
        form.method = "post";
        form.action = action;
        document.body.append(form);
        form.submit();
    }"""
    with page.expect_navigation() as answer:
        page.evaluate(script, action)
    return int(answer.value.status)


def test_a_failed_job_found_by_search_is_retried_from_its_page_and_seen_succeeding(
    site: Site, tab: Tab
) -> None:
    from playwright.sync_api import expect

    page, order = tab.page, f"ORD-{uuid.uuid4().hex[:10]}"
    job = site.bb.tasks["charge"].delay(str(site.folder / f"{order}.marker"), order)
    wait_until(lambda: job.refresh().status is JobStatus.FAILED, timeout=60)
    page.goto(f"{site.base}/jobs")
    page.fill("[data-testid=search]", order)
    page.click("[data-testid=filter-submit]")
    rows = page.locator("[data-testid=job-row]")
    expect(rows).to_have_count(1, timeout=WAIT)
    expect(rows).to_have_attribute("data-job-id", job.id)
    expect(rows).to_have_attribute("data-status", "failed")
    rows.locator("[data-testid=job-link]").click()
    expect(last_error(page)).to_contain_text("payment gateway timed out")
    page.click("[data-testid=action-retry]")
    # the retry answers with the job's page, which follows the job as it runs again
    expect(status_of(page)).to_have_attribute("data-status", "succeeded", timeout=WAIT)
    expect(page.locator("[data-testid=result]")).to_contain_text(f"order {order} paid")
    assert job.refresh().status is JobStatus.SUCCEEDED
    page.goto(f"{site.base}/audit")
    expect(page.locator("main")).to_contain_text(job.id, timeout=WAIT)
    site.shown["job"] = job.id


def test_a_running_jobs_log_lines_and_progress_arrive_without_a_reload(
    site: Site, tab: Tab
) -> None:
    from playwright.sync_api import expect

    page, folder = tab.page, site.folder / f"steps-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    job = site.bb.tasks["steps"].delay(str(folder), 3)
    page.goto(site.job_url(job))
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    lines, text = page.locator("#log .line"), page.locator("#progress-text")
    for step in (1, 2):
        expect(lines).to_have_count(step, timeout=WAIT)
        expect(lines.nth(step - 1)).to_contain_text(f"step {step} of 3")
        expect(text).to_have_text(f"{step}/3 step {step}", timeout=WAIT)
        expect(status_of(page)).to_have_attribute("data-status", "running")
        share = page.eval_on_selector("#progress", "e => e.value")
        assert share == pytest.approx(100 * step / 3, abs=0.1)
        assert page.evaluate("window.sameDocument") is True
        (folder / f"go-{step + 1}").touch()
    # finished: the page reloads once, to show the result
    expect(status_of(page)).to_have_attribute("data-status", "succeeded", timeout=WAIT)
    expect(page.locator("[data-testid=result]")).to_contain_text("3")
    assert [line.split()[-4:] for line in lines.all_inner_texts()] == [
        ["step", str(i), "of", "3"] for i in (1, 2, 3)
    ]


def test_a_paused_queue_keeps_its_jobs_waiting_until_resumed(site: Site, tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    page.goto(f"{site.base}/queues")
    row = page.locator("[data-testid=queue-row][data-queue=parked]")
    row.locator("[data-testid=action-pause]").click()
    expect(row.locator("[data-testid=paused-badge]")).to_be_visible(timeout=WAIT)
    assert site.bb.store.paused_queues() == {"parked"}
    parked = site.bb.tasks["parked_work"].delay()
    later = site.bb.tasks["quick"].delay()  # once it ran, the worker has passed over `parked`
    wait_until(lambda: later.refresh().status is JobStatus.SUCCEEDED, timeout=60)
    assert parked.refresh().status is JobStatus.QUEUED
    page.goto(site.job_url(parked))
    expect(page.locator("[data-testid=explain]")).to_contain_text("paused")
    page.goto(f"{site.base}/queues")
    row.locator("[data-testid=action-resume]").click()
    expect(row.locator("[data-testid=action-pause]")).to_be_visible(timeout=WAIT)
    expect(row.locator("[data-testid=paused-badge]")).to_have_count(0)
    page.goto(site.job_url(parked))
    expect(status_of(page)).to_have_attribute("data-status", "succeeded", timeout=WAIT)


def test_a_read_only_user_sees_no_buttons_and_is_refused_on_post(site: Site, browser: Any) -> None:
    from playwright.sync_api import expect

    job = failed_job(site, "read-only check")
    viewer = base64.b64encode(b"viewer:secret").decode()
    context = browser.new_context(extra_http_headers={"Authorization": f"Basic {viewer}"})
    try:
        tab = open_tab(context)
        page = tab.page
        page.goto(site.job_url(job))
        expect(page.locator("[data-testid=read-only]")).to_be_visible()
        expect(status_of(page)).to_have_attribute("data-status", "failed")
        assert page.locator("[data-testid=job-actions] button").count() == 0
        page.goto(f"{site.base}/queues")
        expect(page.locator("[data-testid=queue-row]").first).to_be_visible()
        assert page.locator("main button").count() == 0
        page.goto(f"{site.base}/jobs?status=failed")
        expect(page.locator("[data-testid=job-row]").first).to_be_visible()
        assert page.locator("[data-testid^=action-]").count() == 0
        # the same form a full user's page posts, sent from the viewer's browser
        assert submit_form(page, f"{site.base}/jobs/{job.id}/retry") == 403
        assert job.refresh().status is JobStatus.FAILED
        # the page and its refusal are all that happened in the viewer's tab
        assert [p for p in tab.problems if "403" not in p] == []
    finally:
        context.close()


def test_a_cross_site_post_is_refused(site: Site, tab: Tab) -> None:
    page = tab.page
    job = failed_job(site, "cross-site check")
    page.goto(site.job_url(job))  # the user has the dashboard open (and its cookie)
    evil = "http://evil.test"
    form = (
        f'<form method="post" action="{site.base}/jobs/{job.id}/retry">'
        '<button id="win">Win a prize</button></form>'
    )
    page.route(f"{evil}/**", lambda route: route.fulfill(content_type="text/html", body=form))
    page.goto(f"{evil}/prize")
    with page.expect_navigation() as answer:
        page.click("#win")
    assert answer.value.status == 403
    assert "refused" in page.inner_text("body")
    assert job.refresh().status is JobStatus.FAILED
    tab.problems[:] = [p for p in tab.problems if "403" not in p]


def test_a_script_in_a_payload_is_shown_as_text(site: Site, tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    text = "<script>alert('xss')</script><img src=x onerror=alert(1)>"
    job = failed_job(site, text)
    page.goto(site.job_url(job))
    expect(page.locator("[data-testid=args]")).to_contain_text(text)
    expect(last_error(page)).to_contain_text(text)
    assert page.locator("main script, main img").count() == 0
    page.goto(f"{site.base}/jobs?q=xss")
    expect(page.locator("[data-testid=job-row]").first).to_contain_text(
        "<script>alert", timeout=WAIT
    )
    assert page.locator("main script, main img").count() == 0
    site.shown["xss"] = job.id
    # the tab fixture checks that no dialog opened and no script ran into an error


def test_every_page_renders_without_errors_and_is_kept_as_a_screenshot(
    site: Site, tab: Tab
) -> None:
    from playwright.sync_api import expect

    page = tab.page
    SHOTS.mkdir(parents=True, exist_ok=True)
    job_id = site.shown.get("job") or failed_job(site, "for the screenshot").id
    for name in PAGES:
        path = f"/jobs/{job_id}" if name == "job" else "/" if name == "overview" else f"/{name}"
        page.goto(f"{site.base}{path}")
        expect(page.locator("main h1, main .tiles").first).to_be_visible()
        if name == "workers":
            expect(page.locator("[data-testid=worker-row]")).to_have_count(1)
        page.screenshot(path=str(SHOTS / f"{site.kind}-{name}.png"), full_page=True)
