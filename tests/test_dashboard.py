"""The dashboard's pages (issue 19): who gets in, the headers and markup every page has,
what a job shows of its arguments, search and pages, the live endpoints."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backburner import Backburner
from backburner.testing import drain

from .dashboardapp import flask_app, register
from .helpers import SERVER_STORES, server_store_url

PAGES = ("/", "/queues", "/jobs", "/workers", "/periodic", "/audit")
OTHER_PAGES = ("/jobs?status=failed", "/bulk?action=retry&status=failed")
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(params=["memory", "sqlite"])
def bb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backburner]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/jobs.db"
    bb = Backburner(url)
    register(bb)
    yield bb
    bb.close()


@pytest.fixture
def client(bb: Backburner) -> FlaskClient:
    return flask_app(bb).test_client()


class Markup(HTMLParser):
    """What a page holds that the CSP must not need: inline script, handlers, styles."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.in_script = False
        self.testids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts.append(found)
            self.in_script = True
        if tag == "style":
            self.inline.append("<style>")
        self.inline += [f"{tag} {name}" for name in found if name.startswith("on")]
        if "style" in found:
            self.inline.append(f"{tag} style=")
        if "data-testid" in found:
            self.testids.append(str(found["data-testid"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and data.strip():
            self.inline.append(f"script body {data[:40]!r}")


def markup(html: str) -> Markup:
    parser = Markup()
    parser.feed(html)
    return parser


def seed(bb: Backburner) -> dict[str, str]:
    """A few jobs in every state the pages show; their ids by name."""
    send, charge = bb.tasks["mail.send"], bb.tasks["billing.charge"]
    ok = send.delay("a@example.com", "hello")
    failed = send.delay("b@example.com", "fail <script>alert(1)</script>")
    secret = charge.delay(7, "sk_live_secret")
    drain(bb)
    queued = send.delay("c@example.com", "later")
    return {"ok": ok.id, "failed": failed.id, "secret": secret.id, "queued": queued.id}


@pytest.mark.parametrize("path", PAGES + OTHER_PAGES)
def test_every_page_has_a_strict_csp_and_no_inline_script(client: FlaskClient, path: str) -> None:
    seed(client.application.extensions["backburner"].bb)
    response = client.get("/backburner" + path)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ):
        assert directive in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    found = markup(response.get_data(as_text=True))
    assert found.inline == []
    assert [s.get("src") for s in found.scripts] == ["/backburner/static/dashboard.js"]
    assert "nav" in found.testids


def test_the_job_page_and_static_files_have_the_headers_too(client: FlaskClient) -> None:
    ids = seed(client.application.extensions["backburner"].bb)
    page = client.get(f"/backburner/jobs/{ids['failed']}")
    assert markup(page.get_data(as_text=True)).inline == []
    for response in (page, client.get("/backburner/static/dashboard.js")):
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_without_an_access_function_only_this_machine_gets_in(client: FlaskClient) -> None:
    assert client.get("/backburner/").status_code == 200
    assert client.get("/backburner/", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    mapped = {"REMOTE_ADDR": "::ffff:127.0.0.1"}
    assert client.get("/backburner/", environ_base=mapped).status_code == 200
    far = client.get("/backburner/", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert far.status_code == 403
    assert "Content-Security-Policy" in far.headers
    # a proxy on this machine passes every client on: they do not count as local
    for header in ("X-Forwarded-For", "Forwarded", "Via"):
        proxied = client.get("/backburner/", headers={header: "203.0.113.9"})
        assert proxied.status_code == 403


@pytest.mark.parametrize(
    ("answer", "get", "post"), [("all", 200, 303), ("read_only", 200, 403), (None, 403, 403)]
)
def test_the_access_function_decides_who_sees_and_who_acts(
    bb: Backburner, answer: str | None, get: int, post: int
) -> None:
    client = flask_app(bb, dashboard_access=lambda request: answer).test_client()
    far = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/backburner/queues", environ_base=far).status_code == get
    response = client.post(
        "/backburner/queues/pause", data={"queue": "mail"}, headers=SAME_ORIGIN, environ_base=far
    )
    assert response.status_code == post
    assert ("mail" in bb.paused()) is (post == 303)


def test_an_access_function_answering_nonsense_is_an_error_not_a_pass(bb: Backburner) -> None:
    app = flask_app(bb, dashboard_access=lambda request: True)
    app.testing = False
    assert app.test_client().get("/backburner/").status_code == 500


def test_read_only_users_see_no_buttons(bb: Backburner) -> None:
    ids = seed(bb)
    client = flask_app(bb, dashboard_access=lambda request: "read_only").test_client()
    everything = ["/backburner" + p for p in PAGES] + [
        f"/backburner/jobs/{ids['failed']}",
        f"/backburner/jobs/{ids['queued']}",
        "/backburner/jobs?status=failed",
        "/backburner/bulk?action=retry&status=failed",
    ]
    for path in everything:
        html = client.get(path).get_data(as_text=True)
        assert '<form method="post"' not in html, path
        assert not [t for t in markup(html).testids if t.startswith("action-")], path
        assert "read-only" in markup(html).testids, path
    full = flask_app(bb).test_client().get(f"/backburner/jobs/{ids['failed']}")
    assert "action-retry" in markup(full.get_data(as_text=True)).testids


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
        {"Origin": "null"},
        {},  # no fetch metadata, no token: an old browser's forged form
    ],
)
def test_a_cross_site_post_is_refused(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post("/backburner/queues/pause", data={"queue": "mail"}, headers=headers)
    assert response.status_code == 403
    assert client.application.extensions["backburner"].bb.paused() == set()


def test_an_old_browser_posts_with_the_token_of_the_page(client: FlaskClient) -> None:
    page = client.get("/backburner/queues").get_data(as_text=True)
    cookie = client.get_cookie("bb_csrf", path="/backburner")
    assert cookie is not None and f'value="{cookie.value}"' in page
    forged = client.post("/backburner/queues/pause", data={"queue": "mail", "csrf_token": "x"})
    assert forged.status_code == 403
    response = client.post(
        "/backburner/queues/pause",
        data={"queue": "mail", "csrf_token": cookie.value},
        headers={"Origin": "http://localhost"},
    )
    assert response.status_code == 303
    assert client.application.extensions["backburner"].bb.paused() == {"mail"}


def test_over_https_the_token_cookie_cannot_be_set_by_a_sibling_subdomain(bb: Backburner) -> None:
    # Cookie tossing: a page on evil.example.com may set a "bb_csrf" cookie for
    # .example.com and post its value from an old browser. Over HTTPS the token lives in
    # a __Host- cookie, which browsers accept only from this very host (Secure, Path=/,
    # no Domain), so a tossed cookie of the plain name is never what the form is checked against.
    client = flask_app(bb).test_client()
    https = {"base_url": "https://localhost"}
    page = client.get("/backburner/queues", **https).get_data(as_text=True)
    assert client.get_cookie("bb_csrf", domain="localhost", path="/backburner") is None
    cookie = client.get_cookie("__Host-bb_csrf", domain="localhost", path="/")
    assert cookie is not None and cookie.secure and cookie.http_only
    assert f'value="{cookie.value}"' in page
    client.set_cookie("bb_csrf", "tossed", domain="localhost", path="/backburner")
    tossed = client.post(
        "/backburner/queues/pause", data={"queue": "mail", "csrf_token": "tossed"}, **https
    )
    assert tossed.status_code == 403
    assert bb.paused() == set()
    sent = client.post(
        "/backburner/queues/pause", data={"queue": "mail", "csrf_token": cookie.value}, **https
    )
    assert sent.status_code == 303
    assert bb.paused() == {"mail"}


def test_a_payload_with_script_is_shown_as_text(client: FlaskClient) -> None:
    ids = seed(client.application.extensions["backburner"].bb)
    for path in (f"/backburner/jobs/{ids['failed']}", "/backburner/jobs?status=failed"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert markup(html).inline == []


def test_arguments_are_hidden_unless_the_task_exposes_them(client: FlaskClient) -> None:
    bb: Backburner = client.application.extensions["backburner"].bb
    ids = seed(bb)
    hidden = client.get(f"/backburner/jobs/{ids['secret']}").get_data(as_text=True)
    assert "sk_live_secret" not in hidden and 'data-testid="args-hidden"' in hidden
    shown = client.get(f"/backburner/jobs/{ids['ok']}").get_data(as_text=True)
    assert "a@example.com" in shown and 'data-testid="args"' in shown
    redacted = bb.tasks["api.call"].delay("https://api.example.com", token="tok_123")
    broken = bb.tasks["broken.redact"].delay(token="tok_456")
    page = client.get(f"/backburner/jobs/{redacted.id}").get_data(as_text=True)
    assert "https://api.example.com" in page and "***" in page and "tok_123" not in page
    page = client.get(f"/backburner/jobs/{broken.id}").get_data(as_text=True)
    assert "tok_456" not in page and 'data-testid="args-hidden"' in page


ROW = re.compile(r'data-testid="job-row" data-job-id="([0-9a-f]+)"')
NEXT = re.compile(r'href="([^"]+)" data-testid="next-page"')


def listed(client: FlaskClient, query: str) -> list[str]:
    """The ids of the jobs the Jobs page lists for this query string."""
    return ROW.findall(client.get(f"/backburner/jobs?{query}").get_data(as_text=True))


def test_search_finds_by_id_task_and_shown_arguments_but_not_hidden_ones(
    client: FlaskClient,
) -> None:
    bb: Backburner = client.application.extensions["backburner"].bb
    ids = seed(bb)
    redacted = bb.tasks["api.call"].delay("https://api.example.com", token="tok_123")
    assert listed(client, "q=b@example.com") == [ids["failed"]]
    assert listed(client, f"q={ids['secret']}") == [ids["secret"]]
    assert listed(client, "q=billing.charge") == [ids["secret"]]
    assert listed(client, "q=sk_live_secret") == []  # in hidden arguments
    assert listed(client, "q=tok_123") == []  # redacted away
    assert listed(client, "q=api.example.com") == [redacted.id]
    html = client.get("/backburner/jobs?q=sk_live_secret").get_data(as_text=True)
    assert "sk_live" in html  # the search box keeps the term; the job is not listed
    assert ids["secret"] not in html


def test_many_matches_in_hidden_arguments_leave_no_trace_on_the_page(
    client: FlaskClient,
) -> None:
    bb: Backburner = client.application.extensions["backburner"].bb
    bb.tasks["billing.charge"].map([(i, "sk_live_zzz") for i in range(120)])
    shown = bb.tasks["mail.send"].delay("old@example.com", "sk_live_zzz is public here")
    bb.tasks["billing.charge"].map([(i, "sk_live_zzz") for i in range(120)])
    html = client.get("/backburner/jobs?q=sk_live_zzz").get_data(as_text=True)
    assert ROW.findall(html) == [shown.id]
    assert "next-page" not in html
    nothing = client.get("/backburner/jobs?q=sk_live_").get_data(as_text=True)
    assert "next-page" not in nothing


def test_filters_and_keyset_pages_list_every_job_once(client: FlaskClient) -> None:
    bb: Backburner = client.application.extensions["backburner"].bb
    jobs = [bb.tasks["mail.send"].delay(f"u{i}@example.com", "hi") for i in range(120)]
    seen: list[str] = []
    path = "/backburner/jobs?queue=mail&status=queued"
    while path:
        html = client.get(path).get_data(as_text=True)
        seen += ROW.findall(html)
        found = NEXT.search(html)
        path = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == [j.id for j in reversed(jobs)]
    assert listed(client, "status=failed") == []
    assert len(listed(client, "task=mail.send")) == 50


def test_overview_shows_counts_per_queue_and_refreshes_a_fragment(client: FlaskClient) -> None:
    seed(client.application.extensions["backburner"].bb)
    page = client.get("/backburner/").get_data(as_text=True)
    assert 'data-refresh="/backburner/?fragment=1"' in page
    fragment = client.get("/backburner/?fragment=1").get_data(as_text=True)
    assert "<html" not in fragment and 'data-queue="mail"' in fragment
    assert 'data-testid="tile-queued"><span>1</span>' in fragment
    assert client.get("/backburner/jobs?fragment=1").get_data(as_text=True).count("job-row") >= 4


def test_the_job_page_shows_attempts_dependencies_and_the_explanation(
    client: FlaskClient,
) -> None:
    bb: Backburner = client.application.extensions["backburner"].bb
    ids = seed(bb)
    child = bb.tasks["mail.send"].options(depends_on=[ids["queued"]]).delay("d@x.org", "after")
    page = client.get(f"/backburner/jobs/{ids['failed']}").get_data(as_text=True)
    assert 'data-testid="attempt"' in page and "Traceback" in page
    assert 'data-testid="explain"' in page and "failed" in page
    waiting = client.get(f"/backburner/jobs/{child.id}").get_data(as_text=True)
    assert 'data-testid="dependencies"' in waiting and ids["queued"] in waiting
    parent = client.get(f"/backburner/jobs/{ids['queued']}").get_data(as_text=True)
    assert 'data-testid="dependents"' in parent and child.id in parent
    assert client.get("/backburner/jobs/nope").status_code == 404
    assert client.get("/backburner/jobs/" + "x" * 300).status_code == 404


def test_a_finished_jobs_stream_sends_its_state_and_ends(client: FlaskClient) -> None:
    ids = seed(client.application.extensions["backburner"].bb)
    response = client.get(f"/backburner/jobs/{ids['failed']}/events")
    assert response.mimetype == "text/event-stream"
    events = [
        block.split("\n")
        for block in response.get_data(as_text=True).split("\n\n")
        if block.startswith("event:")
    ]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names == ["state", "end"]
    state = json.loads(events[0][2].removeprefix("data: "))
    assert state["status"] == "failed" and state["finished"] is True
    polled = client.get(f"/backburner/jobs/{ids['failed']}/poll?after=0").json
    assert polled is not None and polled["state"]["status"] == "failed"


def test_periodic_and_workers_pages_list_what_the_app_declares(client: FlaskClient) -> None:
    periodic = client.get("/backburner/periodic").get_data(as_text=True)
    assert 'data-schedule="hourly-mail"' in periodic and "every 3600s" in periodic
    workers = client.get("/backburner/workers").get_data(as_text=True)
    assert "No live worker" in workers


def test_the_store_being_down_answers_503(client: FlaskClient, monkeypatch: Any) -> None:
    from backburner.errors import StoreUnavailable

    bb: Backburner = client.application.extensions["backburner"].bb

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("cannot connect to postgresql://u:hunter2@db/x")

    monkeypatch.setattr(bb.store, "stats", down)
    response = client.get("/backburner/")
    assert response.status_code == 503
    assert "Content-Security-Policy" in response.headers


def test_the_api_prefix_works_as_before_next_to_the_dashboard(bb: Backburner) -> None:
    app = Flask(__name__)
    bb.init_app(app, api_prefix="/jobs", dashboard_prefix="/backburner")
    job = bb.tasks["mail.send"].delay("a@example.com", "hi")
    client = app.test_client()
    answer = client.get(f"/jobs/{job.id}", headers={"Accept": "application/json"}).json
    assert answer is not None and answer["id"] == job.id
    assert client.get(f"/backburner/jobs/{job.id}").status_code == 200
    with pytest.raises(ValueError, match="dashboard_prefix"):
        Backburner("memory://").init_app(Flask("x"), dashboard_prefix="backburner")


@pytest.fixture(params=SERVER_STORES)
def server_bb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backburner]:
    bb = Backburner(server_store_url(request, tmp_path))
    register(bb)
    yield bb
    bb.close()


def test_every_page_answers_on_the_server_stores(server_bb: Backburner) -> None:
    ids = seed(server_bb)
    client = flask_app(server_bb).test_client()
    paths = [f"/backburner{p}" for p in PAGES] + [
        f"/backburner/jobs/{ids['failed']}",
        "/backburner/jobs?status=failed&queue=mail&task=mail.send",
        "/backburner/jobs?q=b@example.com",
        "/backburner/bulk?action=retry&status=failed",
    ]
    for path in paths:
        assert client.get(path).status_code == 200, path
    assert listed(client, "q=b@example.com") == [ids["failed"]]
    assert listed(client, "q=sk_live_secret") == []
    response = client.post(f"/backburner/jobs/{ids['failed']}/retry", headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert server_bb.store.audit_log()[0].action == "retry"


def test_refusals_are_dashboard_pages_with_the_headers(client: FlaskClient) -> None:
    response = client.post("/backburner/queues/pause", data={"queue": "mail"})
    assert response.status_code == 403
    assert "token" in response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers
    assert client.get("/backburner/jobs/nope").status_code == 404


def test_a_running_jobs_stream_sends_its_lines_and_progress_after_the_last_seen(
    client: FlaskClient,
) -> None:
    from backburner.logs import LogLine

    bb: Backburner = client.application.extensions["backburner"].bb
    client.application.config["BACKBURNER_STREAM_SECONDS"] = 0.3
    job = bb.tasks["mail.send"].delay("a@example.com", "<b>hi</b>")
    [claimed] = bb.store.claim(None, "w1", 1, 30.0)
    bb.store.set_progress(job.id, claimed.token, {"done": 3, "total": 4, "message": "<i>x</i>"})
    bb.store.append_logs(
        {job.id: [LogLine(0.0, 1, "stdout", None, f"line {i} <script>") for i in (1, 2, 3)]}
    )
    page = client.get(f"/backburner/jobs/{job.id}").get_data(as_text=True)
    assert 'data-finished="false"' in page and 'value="75.0"' in page
    assert "line 1 &lt;script&gt;" in page and "&lt;i&gt;x&lt;/i&gt;" in page
    text = client.get(f"/backburner/jobs/{job.id}/events", headers={"Last-Event-ID": "1"}).get_data(
        as_text=True
    )
    events = [b for b in text.split("\n\n") if b.startswith("event:")]
    assert [e.split("\n")[0] for e in events] == ["event: log", "event: log", "event: state"]
    assert "line 2" in events[0] and "id: 3" in events[1]
    state = json.loads(events[2].split("data: ")[1])
    assert state["status"] == "running" and state["progress"]["share"] == 75.0
    polled = client.get(f"/backburner/jobs/{job.id}/poll?after=2").json
    assert polled is not None and [line["seq"] for line in polled["lines"]] == [3]


def test_the_dashboard_prefix_may_come_from_the_config() -> None:
    bb = Backburner("memory://")
    app = Flask(__name__)
    app.config["BACKBURNER_DASHBOARD_PREFIX"] = "/ops/jobs"
    bb.init_app(app)
    assert app.test_client().get("/ops/jobs/queues").status_code == 200


def test_expose_args_takes_a_bool_or_a_function_and_is_not_a_per_call_option() -> None:
    bb = Backburner("memory://")
    with pytest.raises(ValueError, match="expose_args"):
        bb.task(name="t", expose_args="yes")(print)  # type: ignore[call-overload]
    task = bb.task(name="u", expose_args=True)(print)
    with pytest.raises(TypeError, match="fixed"):
        task.options(expose_args=False)


@pytest.mark.parametrize(
    "path",
    [
        "/backburner/jobs?after=garbage",
        "/backburner/jobs?after=99999999999999999999999",
        "/backburner/audit?before=99999999999999999999999",
        "/backburner/audit?before=%C2%B2",
        "/backburner/jobs?status=bogus&q=%00",
    ],
)
def test_links_edited_by_hand_answer_a_page_not_an_error(bb: Backburner, path: str) -> None:
    app = flask_app(bb)
    app.testing = False  # errors answer 500 instead of raising
    job = bb.tasks["mail.send"].delay("a@example.com", "hi")
    client = app.test_client()
    assert client.get(path).status_code in (200, 400)
    assert (
        client.get(f"/backburner/jobs/{job.id}/poll?after=99999999999999999999").status_code == 200
    )


def test_the_overview_charts_the_hour_and_the_day_from_history(client: FlaskClient) -> None:
    bb: Backburner = client.application.extensions["backburner"].bb
    minute = time.time() // 60 * 60
    bb.store.add_history(
        {
            (minute, "mail", "succeeded"): 7,
            (minute, "mail", "failed"): 2,
            (minute - 7200, "mail", "succeeded"): 30,  # in the day, not the hour
            (minute - 2 * 86400, "mail", "succeeded"): 1000,  # neither
        }
    )
    html = client.get("/backburner/").get_data(as_text=True)
    assert re.search(
        r"Last hour.*?<b class=\"ok\">7</b> succeeded.*?<b class=\"bad\">2</b>", html, re.S
    )
    assert re.search(r"Last day.*?<b class=\"ok\">37</b> succeeded", html, re.S)
    row = html.split('data-queue="mail"')[1].split("</tr>")[0]
    assert '<td class="num ok">7</td>' in row and '<td class="num bad">2</td>' in row


def test_cookies_keep_to_the_dashboards_path_under_the_apps_root(bb: Backburner) -> None:
    client = flask_app(bb).test_client()
    response = client.get("/backburner/queues", base_url="http://localhost/app/")
    assert "Path=/app/backburner" in response.headers["Set-Cookie"]
    response = client.get("/backburner/queues")
    assert "Path=/backburner;" in response.headers["Set-Cookie"]


def test_no_page_reads_every_job(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    bb: Backburner = client.application.extensions["backburner"].bb
    ids = seed(bb)
    calls: list[tuple[str, Any]] = []

    def spy(name: str) -> None:
        method = getattr(bb.store, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, kwargs.get("limit")))
            return method(*args, **kwargs)

        monkeypatch.setattr(bb.store, name, recorded)

    for name in ("list_jobs", "counts", "find_jobs", "purge"):
        spy(name)
    for path in PAGES + OTHER_PAGES + (f"/jobs/{ids['failed']}", "/jobs?q=example"):
        assert client.get("/backburner" + path).status_code == 200
    assert {name for name, _ in calls} == {"find_jobs"}
    assert max(limit for _, limit in calls) <= 50


def test_a_job_that_succeeded_after_a_retry_lists_no_error(
    bb: Backburner, client: FlaskClient
) -> None:
    job = bb.tasks["mail.send"].delay("ada@example.com", "hello")
    [first] = bb.store.claim(None, "w", 1, 30)
    assert bb.store.fail(job.id, first.token, "ValueError: flaky mailbox", time.time())
    [second] = bb.store.claim(None, "w", 1, 30)
    assert bb.store.complete(job.id, second.token, '"sent"')
    page = client.get("/backburner/jobs", headers=SAME_ORIGIN).get_data(as_text=True)
    assert job.id[:12] in page
    assert "flaky mailbox" not in page


def test_another_sites_name_pointed_at_this_machine_is_not_local(
    bb: Backburner, client: FlaskClient
) -> None:
    # DNS rebinding: evil.example resolves to 127.0.0.1, and the browser thinks it talks
    # to evil.example (same origin), so only the Host header tells
    for host in ("localhost:5000", "127.0.0.1:8080", "[::1]:8080", "app.localhost"):
        assert client.get("/backburner/", headers={"Host": host}).status_code == 200, host
    rebound = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    assert client.get("/backburner/jobs", headers=rebound).status_code == 403
    paused = client.post(
        "/backburner/queues/pause", data={"queue": "mail"}, headers={**rebound, **SAME_ORIGIN}
    )
    assert paused.status_code == 403
    assert bb.paused() == set()


def test_an_unchecked_basic_auth_name_is_not_taken_as_the_actor(
    bb: Backburner, client: FlaskClient
) -> None:
    forged = {**SAME_ORIGIN, "Authorization": "Basic " + base64.b64encode(b"ceo:x").decode()}
    response = client.post("/backburner/queues/pause", data={"queue": "mail"}, headers=forged)
    assert response.status_code == 303
    assert bb.store.audit_log(limit=1)[0].actor == "anonymous"


def test_keys_worked_out_from_hidden_arguments_are_hidden_too(
    bb: Backburner, client: FlaskClient
) -> None:
    charge = bb.tasks["billing.charge"]
    job = charge.options(unique_key="charge:tok_secret_42").delay(7, token="tok_secret_42")
    page = client.get(f"/backburner/jobs/{job.id}").get_data(as_text=True)
    assert "args-hidden" in page
    assert "tok_secret_42" not in page


def test_a_queue_name_that_cannot_be_one_is_refused_with_400(client: FlaskClient) -> None:
    response = client.post(
        "/backburner/queues/pause", data={"queue": "bad\x01name"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 400
