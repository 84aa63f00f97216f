"""What a newcomer clicks in ``agentotel up --demo``'s dashboard, in headless Chromium: 7 days of history on
the Overview, the firing alert, the regression on Evaluations, the registry page and a support-agent trace.
With ``AGENTOTEL_SCREENSHOTS=DIR`` the walk saves the README's screenshots there (``overview.png``,
``trace.png``): ``AGENTOTEL_SCREENSHOTS=docs pytest tests/agentotel/test_up.py``."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.dashboard.test_browser import SCREENSHOTS_ENV, chromium, wait_idle


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar select box labelled ``label``."""
    page.locator('[data-testid="stSelectbox"]', has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def walk_demo_dashboard(base: str) -> None:
    """The walk, in a Chromium of its own; fails on any browser console error."""
    from playwright.sync_api import expect

    screenshots = os.environ.get(SCREENSHOTS_ENV)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(base + "/", wait_until="domcontentloaded")
        page.get_by_text("Top agents", exact=True).first.wait_for(timeout=60_000)
        wait_idle(page)
        choose(page, "Time range", "Last 7 days")
        executions = page.locator('[data-testid="stMetric"]', has_text="Executions").locator(
            '[data-testid="stMetricValue"]')
        expect(executions).to_have_text(re.compile(r"^\d+(\.\d)?k$"), timeout=60_000)  # thousands: 7 days in
        assert float(executions.inner_text()[:-1]) > 5
        active = page.locator('[data-testid="stMetric"]', has_text="Active agents").locator(
            '[data-testid="stMetricValue"]')
        assert int(active.inner_text()) >= 4  # support, research, sql, inbox-triage
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=30_000)
        wait_idle(page)
        if screenshots:
            Path(screenshots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(screenshots) / "overview.png"), full_page=True)

        nav = page.locator('[data-testid="stSidebarNav"]')
        nav.get_by_text("Alerts", exact=True).click()
        firing = page.locator('[data-testid="stMetric"]', has_text="Firing").locator('[data-testid="stMetricValue"]')
        expect(firing).to_have_text(re.compile(r"^[1-9][0-9]*$"), timeout=60_000)  # the demo's alert fires
        nav.get_by_text("Evaluations", exact=True).click()
        page.get_by_text("Compare with a baseline", exact=True).wait_for(timeout=30_000)
        expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("Regression in", timeout=30_000)
        nav.get_by_text("Agents & registry", exact=True).click()
        page.get_by_text("Deployment history", exact=True).wait_for(timeout=30_000)

        nav.get_by_text("Traces", exact=True).click()
        page.get_by_text("Open trace", exact=True).wait_for(timeout=30_000)
        box = page.get_by_role("textbox", name="Agent", exact=True)
        box.fill("support-agent")
        box.press("Enter")
        page.get_by_text("Waterfall", exact=True).wait_for(timeout=30_000)
        wait_idle(page)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=30_000)
        # the newest support-agent trace: agent, chat, tool, chat, or fewer when a model call failed (the
        # demo's 429s and 500s) or while a live turn is still arriving; one waterfall bar per span
        shown = re.search(r"trace [0-9a-f]{32} · (\d+) spans", page.inner_text("body"))
        assert shown and int(shown.group(1)) >= 2, page.inner_text("body")[-2000:]
        bars = page.locator('[data-testid="stVegaLiteChart"] g.mark-rect.role-mark > path')
        expect(bars).to_have_count(int(shown.group(1)), timeout=30_000)  # a rerun's stale chart goes away
        if screenshots:
            page.screenshot(path=str(Path(screenshots) / "trace.png"), full_page=True)
        page.close()
        assert errors == [], errors
