"""The real thing: ``agentotel dashboard`` on a free loopback port against a seeded SQLite warehouse,
driven by headless Chromium (Debian ``chromium`` via Playwright; never a downloaded browser).

Every page renders its key text and charts without browser console errors; one action (acknowledge)
changes the database; hostile span content makes 0 requests to a real leak server (P3); the CSV download
is neutralised (P4); with auth on, an anonymous visitor gets only the login form (P5); the server listens on
127.0.0.1 only (S4). Screenshots go to ``$AGENTOTEL_TEST_ARTIFACTS`` (default: the test's tmp dir).
``agentotel up --demo`` in the browser is walked by tests/agentotel/test_up.py (tests/dashboard/demo_walk.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.dashboard.support import FORMULA_AGENT, MARKER
from tests.support.polling import wait_for

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS_ENV = "AGENTOTEL_SCREENSHOTS"  # a directory: the up --demo test saves the README's screenshots there
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = {  # navigation link -> text that only the rendered page shows
    "Overview": "Top agents",
    "Traces": "Open trace",
    "LLM": "Per model",
    "Tools": "Failed calls",
    "Agents & registry": "Deployment history",
    "Evaluations": "Compare with a baseline",
    "Alerts": "Unacknowledged",
    "System": "Hosts and processes",
    "Analytics": "Baseline window (buckets)",
}

pytestmark = [
    pytest.mark.slow,  # a real Chromium per test
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI", "") == "",
                       reason="Debian chromium is not installed (.ci/system-packages installs it)"),
]


class LeakServer:
    """Counts every request it receives (any method, any path)."""

    def __init__(self) -> None:
        requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def _hit(self) -> None:
                requests.append(f"{self.command} {self.path}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_OPTIONS = _hit  # noqa: N815

            def log_message(self, *args) -> None:
                return

        self.requests = requests
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_dashboard(db_url: str, log_dir: Path, port: int | None = None, **env: str) -> tuple[subprocess.Popen, str]:
    """``agentotel dashboard`` on ``port`` (a free one by default) with ``env`` added to an environment without
    dashboard or OIDC settings; returns once it is healthy."""
    port = port or free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOTEL_DASHBOARD_", "AGENTOTEL_OIDC_"))}
    environment.update(env)
    log = open(log_dir / f"dashboard-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    # a session of its own: under autogroup scheduling it then weighs as much as the Chromium (its own session)
    # that waits on it, not a share of the suite's workers (tests/support/priority.py)
    process = subprocess.Popen([sys.executable, "-m", "agentotel", "dashboard", "--db", db_url, "--port", str(port)],
                               env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=log_dir,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"dashboard exited: {(log_dir / f'dashboard-{port}.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"{base}/_stcore/health", timeout=1).text == "ok"
        except httpx.HTTPError:
            return False

    if wait_for(healthy, timeout=90, interval=0.2):
        return process, base
    process.kill()
    raise AssertionError("dashboard did not become healthy within 90 s")


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade
    from tests.dashboard.support import seed_all

    work = tmp_path_factory.mktemp("browser")
    leak = LeakServer()
    url = f"sqlite:///{work}/warehouse.db"
    engine = create_db_engine(url)
    upgrade(engine)
    facts = seed_all(engine, leak_port=leak.port, formula_agent=True)
    process, base = start_dashboard(url, work)
    artifacts = Path(os.environ.get("AGENTOTEL_TEST_ARTIFACTS") or work)
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        with chromium() as browser:
            yield SimpleNamespace(base=base, engine=engine, facts=facts, leak=leak, browser=browser, process=process,
                                  artifacts=artifacts, work=work, url=url)
    finally:
        stop(process)
        leak.stop()
        engine.dispose()


def open_page(live, link: str, expect: str):
    """A fresh browser page on the app, navigated like a user (sidebar link) to ``link``, once ``expect``
    is visible; console errors and requests leaving loopback are collected."""
    page = live.browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: errors.append(f"external request {req.url}")
            if not req.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else None)
    page.goto(live.base + "/", wait_until="domcontentloaded")
    page.get_by_text("Top agents", exact=True).first.wait_for(timeout=30_000)
    if link != "Overview":
        page.locator('[data-testid="stSidebarNav"]').get_by_text(link, exact=True).click()
        page.get_by_text(expect, exact=True).first.wait_for(timeout=30_000)
    wait_idle(page)
    return page, errors


def wait_idle(page, timeout: float = 30.0) -> None:
    """Until Streamlit's 'running' indicator is gone."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=timeout * 1000)


def test_every_page_renders_with_numbers_and_charts(live):
    from playwright.sync_api import expect

    page, errors = open_page(live, "Overview", "Top agents")
    expect(page.locator('[data-testid="stMetric"]', has_text="Executions")).to_contain_text("11", timeout=30_000)
    expect(page.locator('[data-testid="stMetric"]', has_text="LLM calls")).to_contain_text("22", timeout=30_000)
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for()
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 4
    page.screenshot(path=str(live.artifacts / "dashboard-overview.png"), full_page=True)
    for link, marker in PAGES.items():
        page.locator('[data-testid="stSidebarNav"]').get_by_text(link, exact=True).click()
        page.get_by_text(marker, exact=True).first.wait_for(timeout=30_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "Traceback" not in body and "could not be loaded" not in body, link
        if link == "Alerts":
            assert "1" in page.locator('[data-testid="stMetric"]').first.inner_text()
        if link in ("LLM", "Tools", "Analytics"):
            page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=30_000)
    assert errors == [], errors
    page.close()


def test_acknowledge_alert_in_the_browser(live):
    from agentotel.alerting.manager import AlertManager

    page, errors = open_page(live, "Alerts", "Acknowledge")
    wait_idle(page)
    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("Acknowledged.", exact=True).wait_for(timeout=30_000)
    alert = AlertManager(live.engine).get_alert(live.facts.alert_id)
    assert alert["acknowledged"] is True and alert["acknowledged_by"] == "local"
    assert errors == []
    page.close()


def test_hostile_span_content_makes_no_request(live):
    page, errors = open_page(live, "Traces", "Open trace")
    wait_idle(page)
    box = page.get_by_label("Trace id")
    box.fill(live.facts.traces["probe"])
    box.press("Enter")
    page.get_by_text("Span details", exact=True).wait_for(timeout=30_000)
    wait_idle(page)
    page.locator('[data-testid="stCode"]', has_text=MARKER).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # time for any image or script to fire
    page.screenshot(path=str(live.artifacts / "dashboard-trace-waterfall.png"), full_page=True)
    code = " ".join(page.locator('[data-testid="stCode"]').all_inner_texts())
    assert "<script>" in code and f"http://127.0.0.1:{live.leak.port}/leak" in code  # shown as text
    assert page.title() != "pwned"
    assert live.leak.requests == []
    assert errors == []
    page.close()


def test_csv_download_is_neutralised(live):
    page, _ = open_page(live, "Overview", "Top agents")
    wait_idle(page)
    button = page.locator('[data-testid="stColumn"]', has_text="Top agents").get_by_role("button", name="Download CSV")
    button.wait_for(timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        button.click()
    path = live.work / "top_agents.csv"
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert "'" + FORMULA_AGENT in text
    assert not any(line.startswith(("=", "+", "-", "@")) for line in text.splitlines())
    page.close()


def test_binds_to_loopback_only(live):
    import psutil

    parent = psutil.Process(live.process.pid)
    listening = [c.laddr for p in (parent, *parent.children(recursive=True))
                 for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    port = int(live.base.rsplit(":", 1)[1])
    assert [a.ip for a in listening if a.port == port] == ["127.0.0.1"]


def test_login_required_when_auth_is_on(live):
    from agentotel.dashboard.auth import USERS_ENV, hash_password

    users = f"ana:admin:{hash_password('s3cret-pass', iterations=1000)}"
    process, base = start_dashboard(live.url, live.work, **{USERS_ENV: users})
    try:
        page = live.browser.new_page()
        for path in ("overview", "traces", "alerts"):
            page.goto(f"{base}/{path}", wait_until="domcontentloaded")
            page.get_by_text("Sign in to agentotel", exact=True).wait_for(timeout=30_000)
            wait_idle(page)
            body = page.inner_text("body")
            assert "Executions" not in body and "support-agent" not in body and "high-error-rate" not in body
        page.get_by_label("User name").fill("ana")
        page.get_by_label("Password", exact=True).fill("s3cret-pass")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Unacknowledged", exact=True).wait_for(timeout=30_000)
        assert "s3cret-pass" not in page.inner_text("body")
        page.close()
    finally:
        stop(process)
