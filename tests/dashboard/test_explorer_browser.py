"""The explorer in a real browser: ``agentotel dashboard`` on a free loopback port against a seeded SQLite
warehouse, driven by headless Chromium (Debian ``chromium`` through Playwright, as ``test_browser.py``).

Clicking a trace row opens the trace and its URL opens it again in a new page; clicking a span (in the tree
and in the waterfall) opens its pane; a session's transcript renders in order; the content search finds a
trace by a word of its captured content; every chart on every page has a non-zero plot and the expected
number of marks; no page shows an exception; ``<script>`` and Markdown in content stay inert (no request
reaches the leak server, nothing is rendered as HTML or Markdown).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.dashboard.test_browser import CHROMIUM, LeakServer, chromium, start_dashboard, stop, wait_idle
from tests.support.conversations import SUPPORT_TURNS, UNIQUE_WORD
from tests.support.polling import wait_for

pytestmark = [
    pytest.mark.slow,  # a real Chromium
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI", "") == "",
                       reason="Debian chromium is not installed (.ci/system-packages installs it)"),
]
PAGES = {  # navigation link -> text only the rendered page shows
    "Overview": "Top agents", "Traces": "Open trace", "Sessions": "Order", "Users": "Order", "LLM": "Per model",
    "Tools": "Failed calls", "Agents & registry": "Deployment history", "Evaluations": "Compare with a baseline",
    "Alerts": "Unacknowledged", "System": "Hosts and processes", "Analytics": "Baseline window (buckets)",
}
# Streamlit's frontend probes for its base path when a page is loaded at a deeper URL (/traces/_stcore/…):
# those 404s are the framework's, not the app's
BASE_PATH_PROBE = re.compile(r"status of 404|_stcore/(health|host-config)")
TWELVE_HOUR = re.compile(r"\b(AM|PM)\b|\d(am|pm)\b")
# display defects of the issue: raw UCUM bytes, infinite scores, the generic refusal, unformatted floats
DEFECTS = re.compile(r"\d By\b|Infinity|That cannot be done or shown|\bNaN\b|\d\.\d{7,}")
CHART_MARKS = """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]')).map(chart => {
    const marks = Array.from(chart.querySelectorAll(
        'g.role-mark > path, g.role-mark > line, g.role-mark > g > path, g.role-mark > text'));
    const boxes = marks.map(m => m.getBoundingClientRect()).filter(b => b.width > 0 || b.height > 0);
    const top = Math.min(...boxes.map(b => b.top)), bottom = Math.max(...boxes.map(b => b.bottom));
    const classes = Array.from(chart.querySelectorAll('g.role-mark')).map(g => g.getAttribute('class'));
    const title = chart.querySelector('g.role-title text');
    return {height: chart.getBoundingClientRect().height, plot: boxes.length ? bottom - top : 0,
            marks: marks.length, visible: boxes.length, kinds: classes,
            title: title ? title.textContent : '',
            ticks: Array.from(chart.querySelectorAll('g.role-axis-label text')).map(t => t.textContent),
            bars: Array.from(chart.querySelectorAll('g.mark-rect.role-mark > path')).length};
})"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from datetime import timedelta

    from agentotel.evaluation.online import OnlineAgentConfig, OnlineConfig, OnlineEvaluator
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade
    from tests.dashboard.support import seed_all
    from tests.support.conversations import write_conversations

    work = tmp_path_factory.mktemp("explorer-browser")
    leak = LeakServer()
    url = f"sqlite:///{work}/warehouse.db"
    engine = create_db_engine(url)
    upgrade(engine)
    facts = write_conversations(engine, leak_port=leak.port)
    components = seed_all(engine, leak_port=leak.port)
    online = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=1.0, evaluators=("coherence",)),),
                          lookback=timedelta(hours=2))
    OnlineEvaluator(engine, online).tick()  # online scores on the traces' runs
    process, base = start_dashboard(url, work)
    artifacts = Path(os.environ.get("AGENTOTEL_TEST_ARTIFACTS") or work)
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        with chromium() as browser:
            yield SimpleNamespace(base=base, engine=engine, facts=facts, components=components, leak=leak,
                                  browser=browser, artifacts=artifacts, url=url)
    finally:
        stop(process)
        leak.stop()
        engine.dispose()


def new_page(site, path: str = "/", expect: str | None = None, timezone_id: str | None = None):
    """A fresh page at ``path`` (in the browser time zone ``timezone_id``, else the machine's); console errors
    (but Streamlit's base-path probes) and requests leaving loopback are collected."""
    options = {"timezone_id": timezone_id} if timezone_id else {}
    page = site.browser.new_page(viewport={"width": 1500, "height": 1400}, **options)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not BASE_PATH_PROBE.search(m.text)
            else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: errors.append(f"external request {req.url}")
            if not req.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else None)
    page.goto(site.base + path, wait_until="domcontentloaded")
    if expect:
        page.get_by_text(expect).first.wait_for(timeout=45_000)
    wait_idle(page, 60)
    return page, errors


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').first.inner_text()


def wait_query(page, pattern: str, timeout: float = 45.0) -> str:
    """Until the page's query string matches ``pattern`` (Streamlit changes it with the history API, which
    is no navigation); returns it."""
    page.wait_for_function("p => new RegExp(p).test(window.location.search)", arg=pattern, timeout=timeout * 1000)
    return page.evaluate("() => window.location.search")


def grid_click(page, row: int, column_x: int = 200) -> None:
    """Click a cell of row ``row`` (0-based, below the header) of the first data grid on the page (a click on
    any cell picks its row)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + column_x, box["y"] + 35 * (row + 1) + 17)


def test_row_click_opens_the_trace_and_its_url_reopens_it(site):
    page, errors = new_page(site, "/traces", expect="click a row to open its trace")
    page.wait_for_selector('[data-testid="stDataFrame"]')
    grid_click(page, 2)
    opened = re.search(r"trace=([0-9a-f]{32})", wait_query(page, r"trace=[0-9a-f]{32}")).group(1)
    wait_idle(page, 60)
    page.get_by_text(f"trace {opened}").first.wait_for(timeout=30_000)
    no_exception(page)
    page.screenshot(path=str(site.artifacts / "explorer-trace.png"))

    again, more_errors = new_page(site, f"/traces?trace={opened}", expect=f"trace {opened}")  # a new page, same URL
    again.locator('[data-testid="stVegaLiteChart"] g.mark-rect.role-mark > path').first.wait_for(timeout=30_000)
    no_exception(again)
    assert errors == [] and more_errors == [], errors + more_errors
    page.close()
    again.close()


def test_span_click_in_the_tree_and_in_the_waterfall_opens_its_pane(site):
    from playwright.sync_api import expect

    trace = site.facts.traces["sql-0"]
    page, errors = new_page(site, f"/traces?trace={trace}", expect="Selected agent span")
    # the span tree's grid (the evaluation scores' grid above it has a span_id column, no tokens)
    grid = page.locator('[data-testid="stDataFrame"]').filter(has_text="tokens").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 150, box["y"] + 35 * 3 + 17)  # the tree's third row: the tool span
    page.get_by_text("Selected tool span").first.wait_for(timeout=45_000)
    wait_query(page, f"span={site.facts.tool_spans['sql-0']}")
    wait_idle(page, 60)
    page.locator('[data-testid="stCode"]', has_text='"query": "SELECT 1"').first.wait_for(timeout=30_000)  # arguments

    bars = page.locator('[data-testid="stVegaLiteChart"] g.mark-rect.role-mark > path')
    expect(bars).to_have_count(6, timeout=30_000)  # a rerun may briefly show the stale chart beside the new one
    bar = bars.nth(3).bounding_box()  # the waterfall's fourth row: the sub-agent
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    page.get_by_text("Selected agent span").first.wait_for(timeout=45_000)
    wait_idle(page, 60)
    page.locator('[data-testid="stText"]', has_text="agent sql-writer").first.wait_for(timeout=30_000)
    no_exception(page)
    assert errors == [], errors
    page.close()


def test_session_transcript_renders_in_order(site):
    page, errors = new_page(site, "/sessions?session=conv-alice-1", expect="Conversation")
    page.get_by_text(SUPPORT_TURNS[-1][1]).first.wait_for(timeout=30_000)
    body = page.locator('[data-testid="stMain"]').inner_text()
    positions = [body.index(question) for question, _ in SUPPORT_TURNS]
    answers = [body.index(answer) for _, answer in SUPPORT_TURNS]
    assert positions == sorted(positions) and all(q < a for q, a in zip(positions, answers, strict=True))
    links = page.get_by_role("link", name="Open trace")
    assert links.count() == 3
    assert site.facts.sessions["conv-alice-1"][0] in links.first.get_attribute("href")
    no_exception(page)
    assert errors == [], errors
    page.screenshot(path=str(site.artifacts / "explorer-session.png"))
    page.close()


def test_content_search_finds_a_trace_by_a_word(site):
    page, errors = new_page(site, "/traces", expect="click a row to open its trace")
    box = page.get_by_label("Search content")
    box.fill(UNIQUE_WORD[:9])  # a prefix of a word in the hostile trace's content
    box.press("Enter")
    page.get_by_text("1 traces").first.wait_for(timeout=30_000)
    wait_idle(page, 60)
    grid_click(page, 0)
    wait_query(page, f"trace={site.facts.traces['hostile']}")
    no_exception(page)
    assert errors == [], errors
    page.close()


def drawn_charts(page, at_least: int = 0, timeout: float = 45.0) -> list[dict]:
    """The page's charts (``CHART_MARKS``) once drawn: at least ``at_least`` of them, each with a plot, and the
    same reading for 1.5 s (Vega draws after the script run ends, and a rerun may briefly show the stale
    chart beside the new one)."""
    readings: list[list[dict]] = []

    def settled() -> tuple[list[dict]] | None:  # a page without charts settles on ([],)
        charts = page.evaluate(CHART_MARKS)
        readings.append(charts)
        drawn = len(charts) >= at_least and all(chart["height"] > 0 and chart["plot"] > 0 for chart in charts)
        steady = len(readings) >= STEADY_READS and all(r == charts for r in readings[-STEADY_READS:])
        return (charts,) if drawn and steady else None

    found = wait_for(settled, timeout, interval=0.3)
    assert found, f"charts not drawn within {timeout} s: {readings[-1] if readings else None}"
    return found[0]


STEADY_READS = 6  # 0.3 s apart: 1.5 s without a change
CHARTS_AT_LEAST = {"Overview": 4, "LLM": 4, "Tools": 3, "Evaluations": 1}  # asserted exactly below


def test_hostile_content_stays_inert(site):
    before = len(site.leak.requests)
    page, errors = new_page(site, f"/traces?trace={site.facts.traces['hostile']}", expect="Selected agent span")
    page.get_by_text(UNIQUE_WORD).first.wait_for(timeout=30_000)
    time.sleep(2)
    assert page.title() != "pwned"
    main = page.locator('[data-testid="stMain"]')
    assert "**bold**" in main.inner_text() and "[click](" in main.inner_text()  # Markdown shown as written
    assert main.locator("strong", has_text="bold").count() == 0
    assert main.locator(f"img[src*='{site.leak.port}'], a[href*='{site.leak.port}'], script").count() == 0
    for path in (f"/traces?trace={site.facts.traces['hostile']}&span={site.facts.tool_spans['hostile']}", "/traces",
                 "/tools"):
        other, more = new_page(site, path)
        time.sleep(2)
        assert other.title() != "pwned"
        other.close()
        errors += more
    assert site.leak.requests[before:] == []
    assert errors == [], errors
    page.close()


def test_evaluation_scores_show_on_their_trace(site):
    page, errors = new_page(site, f"/traces?trace={site.facts.traces['support-0']}", expect="Evaluation scores")
    # the grid draws on a canvas; its cells are mirrored in an accessibility table (present, not visible)
    scores = page.locator('[data-testid="stDataFrame"]').filter(has=page.locator('[role="gridcell"]', has_text="coherence"))
    scores.first.wait_for(timeout=30_000)
    box = scores.first.bounding_box()
    assert box["height"] > 60 and box["width"] > 300, box  # a header and a row, drawn
    cells = scores.first.locator('[role="gridcell"]').all_inner_texts()
    assert "online" in cells and "coherence" in cells, cells
    no_exception(page)
    assert errors == [], errors
    page.close()


def _run_metrics(site) -> list[str]:
    """The metrics of the newest evaluation run (the one the Evaluations page opens with)."""
    from agentotel.evaluation.runs import list_runs

    newest = list_runs(site.engine, limit=1, with_results=False)[0]
    return list((newest.summary or {}).get("metrics") or {})


def test_every_chart_on_every_page_has_a_plot_and_its_marks(site):
    from datetime import datetime, timedelta, timezone

    from agentotel.warehouse import llm_calls, tool_calls
    from agentotel.warehouse.analytics import AnalyticsEngine

    now = datetime.now(timezone.utc)
    analytics = AnalyticsEngine(site.engine)
    tools = len(tool_calls.tool_stats(analytics, now - timedelta(hours=1), now))
    models = len(llm_calls.llm_stats(analytics, now - timedelta(hours=1), now))
    expected_bars = {"Calls per tool": tools, "Error rate per tool": tools, "Error rate per model": models}
    page, errors = new_page(site, "/", expect="Top agents")
    seen: dict[str, list[dict]] = {}
    for link, marker in PAGES.items():
        page.locator('[data-testid="stSidebarNav"]').get_by_text(link, exact=True).click()
        page.get_by_text(marker).first.wait_for(timeout=45_000)
        wait_idle(page, 60)
        charts = drawn_charts(page, CHARTS_AT_LEAST.get(link, 0))  # charts draw after the run ends
        no_exception(page)
        seen[link] = charts
        shown = page.locator('[data-testid="stMain"]').inner_text()
        assert not DEFECTS.search(shown), (link, DEFECTS.search(shown).group(0))
        for chart in charts:
            assert chart["height"] > 0 and chart["plot"] > 0, (link, chart)
            assert chart["visible"] > 0, (link, chart)
            assert not any(TWELVE_HOUR.search(tick) for tick in chart["ticks"]), (link, chart["ticks"])
            if chart["title"] in expected_bars:
                assert chart["bars"] == expected_bars[chart["title"]], (link, chart)
    assert len(seen["Overview"]) == 4 and len(seen["LLM"]) == 4 and len(seen["Tools"]) == 3
    intervals = seen["Evaluations"][0]  # the metrics' confidence intervals: a rule and a point per metric
    metrics = len((site.components and _run_metrics(site)) or [])
    assert intervals["title"].startswith("Mean per metric") and intervals["marks"] == 2 * metrics > 0
    trace, _ = new_page(site, f"/traces?trace={site.facts.traces['sql-0']}", expect="Span details")
    trace.locator('[data-testid="stVegaLiteChart"] g.mark-rect.role-mark > path').first.wait_for(timeout=30_000)
    waterfall = drawn_charts(trace, 1)[0]
    assert waterfall["bars"] == 6 and waterfall["plot"] > 6 * 10  # one bar per span, each visible
    graph, _ = new_page(site, "/agents", expect="Agent graph")
    nodes = graph.locator('[data-testid="stGraphVizChart"] svg g.node')
    nodes.first.wait_for(timeout=30_000)  # drawn once Graphviz (WebAssembly, served locally) has loaded
    assert nodes.count() >= 3 and graph.locator('[data-testid="stGraphVizChart"] svg g.edge').count() >= 2
    assert errors == [], errors
    page.close()
    trace.close()
    graph.close()


def _axis_hours(page) -> list[int]:
    """The hours of the time-axis labels (``HH:MM``) of every chart on the page."""
    ticks = [t for chart in page.evaluate(CHART_MARKS) for t in chart["ticks"]]
    assert not any(TWELVE_HOUR.search(t) for t in ticks), ticks
    return [int(t.split(":")[0]) for t in ticks if re.fullmatch(r"\d{2}:\d{2}", t)]


def test_charts_show_the_tables_time_zone_24_hour_and_the_browsers_on_the_toggle(site):
    """A browser in Los Angeles: the Overview's time axes read UTC hours, 24-hour, as the tables do; with the
    'Browser time zone' toggle on they read Los Angeles hours."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from tests.support.polling import wait_for

    zone = "America/Los_Angeles"
    page, errors = new_page(site, "/overview", expect="Top agents", timezone_id=zone)

    def hours_of(tz) -> set[int]:  # the hours the last-hour window can show (with slack at both ends)
        now = datetime.now(timezone.utc)
        return {(now + timedelta(minutes=m)).astimezone(tz).hour for m in range(-75, 15)}

    utc_hours = wait_for(lambda: _axis_hours(page), timeout=45)
    assert utc_hours and set(utc_hours) <= hours_of(timezone.utc), utc_hours
    page.locator('[data-testid="stSidebar"]').get_by_text("Browser time zone").click()
    local = ZoneInfo(zone)
    local_hours = wait_for(lambda: (h := _axis_hours(page)) and set(h) <= hours_of(local) and h, timeout=45)
    assert local_hours, _axis_hours(page)
    assert not set(local_hours) & hours_of(timezone.utc)  # UTC-8 or UTC-7: no hour in common
    no_exception(page)
    assert errors == [], errors
    page.close()


URL_PATHS = {"overview": "Top agents", "traces": "Open trace", "sessions": "Order", "users": "Order",
             "llm": "Per model", "tools": "Failed calls", "agents": "Deployment history",
             "evaluations": "Compare with a baseline", "alerts": "Unacknowledged", "system": "Hosts and processes",
             "analytics": "Baseline window (buckets)"}


def test_every_page_url_opens_directly(site):
    for path, marker in URL_PATHS.items():
        page, errors = new_page(site, f"/{path}", expect=marker)
        assert page.get_by_text("Page not found").count() == 0, path
        assert f"/{path}" in page.url
        no_exception(page)
        assert errors == [], (path, errors)
        page.close()
