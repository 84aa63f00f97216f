"""Every page on a seeded SQLite and PostgreSQL warehouse (Streamlit AppTest, in-process): content,
filters, and no exception or error element."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.support import MARKER, VIEWS, dashboard_env


def run_page(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=90)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def texts(at: AppTest) -> str:
    return "\n".join([t.value for t in at.text] + [c.value for c in at.code])


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error if not e.value.startswith("Regression in")]  # a finding, not a failure
    assert not errors, errors


@pytest.mark.slow
def test_overview_kpis_and_filters(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url)
    at = run_page("overview")
    assert_clean(at)
    kpi = metrics(at)
    assert kpi["Executions"] == "10"
    assert kpi["LLM calls"] == "20"
    assert kpi["Active agents"] == "3"
    assert kpi["Success rate"] == "80.0%"  # two of ten runs had a failing tool
    top = frames(at)[0]
    assert set(top["agent"]) == {"support-agent", "sql-agent", "research-agent"}
    assert len(at.get("vega_lite_chart")) >= 4
    at.sidebar.selectbox(key="ov_agent").set_value("sql-agent").run()
    assert_clean(at)
    assert metrics(at)["Executions"] == "3"
    assert metrics(at)["Success rate"] == "66.7%"


@pytest.mark.slow
def test_traces_search_waterfall_and_inert_content(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url)
    at = run_page("traces")
    assert_clean(at)
    assert len(frames(at)[0]) == 10
    at.sidebar.text_input(key="tr_agent").input("sql").run()  # a part of the name, any case
    assert {a.split()[0] for a in frames(at)[0]["agent"]} == {"sql-agent"}
    at.sidebar.selectbox(key="tr_status").set_value("Errors only").run()
    only_errors = frames(at)[0]
    assert len(only_errors) == 1 and set(only_errors["status"]) == {"error"}

    probe = seeded.facts.traces["probe"]
    at = run_page("traces")
    at.sidebar.text_input(key="tr_trace_id").input(probe.upper()).run()  # "Open trace" opens it (and its URL)
    assert_clean(at)
    assert at.query_params.get("trace") == probe
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart"), "the waterfall chart is drawn"
    tree = frames(at)[0]
    assert len(tree) == 4 and tree["type"].tolist() == ["agent", "llm", "tool", "llm"]
    # the hostile content is shown, but only in inert elements (code/text/json), never in Markdown
    assert MARKER in texts(at)
    markdown = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    assert not any(MARKER in m or "<script>" in m or "](http" in m for m in markdown)

    at = run_page("traces")
    at.sidebar.text_input(key="tr_trace_id").input("not-a-trace-id").run()
    assert_clean(at)
    assert any("32 hexadecimal" in w.value for w in at.warning)


def test_llm_and_tools_pages(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url)
    at = run_page("llm")
    assert_clean(at)
    assert metrics(at)["Calls"] == "20"
    per_model = frames(at)[0]
    assert set(per_model["model"]) == {"gpt-4o-mini", "claude-3-5-sonnet", "gpt-4o"}
    assert dict(zip(per_model["model"], per_model["count"]))["gpt-4o-mini"] == 12
    at.sidebar.selectbox(key="llm_provider").set_value("anthropic").run()
    assert metrics(at)["Calls"] == "6"

    at = run_page("tools")
    assert_clean(at)
    assert metrics(at)["Tool calls"] == "10"
    assert metrics(at)["Failed calls"] == "2"
    tools = frames(at)[0]
    assert dict(zip(tools["tool"], tools["error_count"])) == {"lookup_order": 1, "run_sql": 1, "web_search": 0}


@pytest.mark.slow
def test_agents_evaluations_alerts_system_content(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url)
    at = run_page("agents", ag_name="support-agent")
    assert_clean(at)
    assert metrics(at)["dev"] == "1.2.0"
    assert set(frames(at)[0]["version"]) == {"1.2.0", "1.3.0"}
    per_version = frames(at)[1].set_index("version")
    assert per_version.loc["1.2.0", "executions"] == 6 and per_version.loc["1.3.0", "executions"] == 0
    assert abs(per_version.loc["1.2.0", "error_rate"] - 1 / 6) < 1e-9

    at = run_page("evaluations")
    assert_clean(at)
    assert len(frames(at)[0]) == 2
    metric_table = frames(at)[1]
    assert {"accuracy.exact", "latency_ms"} <= set(metric_table["metric"])
    assert (metric_table["ci_low"] <= metric_table["mean"]).all()
    # newest run (1.3.0, 8 of 20 wrong) against the 1.2.0 baseline: the regression is flagged and highlighted
    assert any(e.value.startswith("Regression in") for e in at.error)
    comparison = next(f for f in frames(at) if "is_regression" in f)
    regressed = set(comparison.loc[comparison["is_regression"].astype(bool), "metric"])
    assert "accuracy.exact" in regressed
    assert "accuracy.exact" in texts(at)

    at = run_page("alerts")
    assert not at.exception
    assert metrics(at)["Firing"] == "1"
    firing = frames(at)[0]
    assert firing["rule_id"].tolist() == ["high-error-rate"]

    at = run_page("system")
    assert_clean(at)
    assert metrics(at)["Spans, last hour"] == "40"
    assert "process.cpu.utilization" in at.multiselect(key="sys_metrics").value
    assert len(at.get("vega_lite_chart")) == 2  # one chart per picked host metric


@pytest.mark.slow
def test_analytics_page(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url)
    at = run_page("analytics")
    assert_clean(at)
    assert len(at.get("vega_lite_chart")) == 1  # anomalies marked on the series
    assert any(t.value.endswith("(1min each)") for t in at.text)
    at.radio(key="an_view").set_value("Forecast").run()
    assert_clean(at)
    assert len(at.get("vega_lite_chart")) == 1 and any(t.value.startswith("model: ") for t in at.text)
    at.radio(key="an_view").set_value("Correlations").run()
    assert_clean(at)
    correlations = frames(at)[-1]
    assert {"metric_a", "metric_b", "pearson_r"} <= set(correlations.columns)
    assert len(correlations) == 6  # 4 metrics, every pair
    at.selectbox(key="an_metric").set_value("Cost").run()
    assert_clean(at)


@pytest.mark.slow
def test_empty_warehouse_explains_how_to_send_data(db_url, monkeypatch):
    dashboard_env(monkeypatch, db_url)
    for page in ("overview", "traces", "llm", "tools", "analytics"):
        at = run_page(page)
        assert not at.exception
        assert any("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317" in c.value for c in at.code), page


@pytest.mark.slow
def test_system_page_reads_receiver_health(seeded, monkeypatch):
    from agentotel.dashboard.data import RECEIVER_METRICS_ENV
    from agentotel.otlp_receiver.prometheus_view import ReceiverMetrics
    from tests.conftest import free_port

    receiver = ReceiverMetrics()
    receiver.received_total.labels(signal="traces").inc(1200)
    receiver.received_total.labels(signal="metrics").inc(34)
    receiver.observe_write("traces", 1190, 0.05)
    port = free_port()
    server = receiver.serve("127.0.0.1", port)
    try:
        dashboard_env(monkeypatch, seeded.url, **{RECEIVER_METRICS_ENV: f"http://127.0.0.1:{port}/metrics"})
        at = run_page("system")
        assert_clean(at)
        shown = metrics(at)
        assert shown["Received (items)"] == "1.2k"
        assert shown["Written (items)"] == "1.2k"
        assert shown["Rejected (items)"] == "0"
    finally:
        server.close()
    dashboard_env(monkeypatch, seeded.url, **{RECEIVER_METRICS_ENV: f"http://127.0.0.1:{free_port()}/metrics"})
    at = run_page("system")
    assert_clean(at)
    assert any("does not answer" in t.value for t in at.text)


@pytest.mark.slow
def test_system_page_reads_a_receiver_with_api_keys_with_its_key(seeded, monkeypatch):
    """A receiver with API keys answers /metrics only to a key: the dashboard presents
    AGENTOTEL_DASHBOARD_RECEIVER_METRICS_KEY; without it the page says what is missing."""
    from agentotel.core.settings import DASHBOARD_RECEIVER_METRICS_KEY_ENV
    from agentotel.dashboard.data import RECEIVER_METRICS_ENV, receiver_health
    from agentotel.otlp_receiver.auth import ApiKeyAuth
    from agentotel.otlp_receiver.prometheus_view import ReceiverMetrics
    from tests.conftest import free_port

    receiver = ReceiverMetrics()
    receiver.received_total.labels(signal="traces").inc(1200)
    port = free_port()
    server = receiver.serve("127.0.0.1", port, ApiKeyAuth(["scrape-key-0123456789"]))
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        dashboard_env(monkeypatch, seeded.url, **{RECEIVER_METRICS_ENV: url})
        at = run_page("system")
        assert_clean(at)
        assert "Received (items)" not in metrics(at)
        assert any("AGENTOTEL_DASHBOARD_RECEIVER_METRICS_KEY" in t.value for t in at.text)
        receiver_health.clear()  # the key is set before a dashboard starts: a new process, an empty cache
        dashboard_env(monkeypatch, seeded.url, **{RECEIVER_METRICS_ENV: url,
                                                  DASHBOARD_RECEIVER_METRICS_KEY_ENV: "scrape-key-0123456789"})
        at = run_page("system")
        assert_clean(at)
        assert metrics(at)["Received (items)"] == "1.2k"
    finally:
        server.close()
