"""A real Prometheus scrapes the receiver's /metrics; PromQL answers; the shipped rules and dashboard parse."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from agentotel.otlp_receiver.prometheus_view import ReceiverMetrics
from tests.otel_config.support import OTEL_CONFIG
from tests.otlp_receiver.test_prometheus_view import known_batch
from tests.support.polling import wait_for
from tests.support.prometheus import promql, running_prometheus

RULES = OTEL_CONFIG / "prometheus" / "agentotel-rules.yml"
PROM_DASHBOARD = OTEL_CONFIG / "grafana" / "dashboards" / "agentotel-prometheus.json"
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$agent": ".*"}


def _promtool(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool (Debian package `prometheus`) is missing"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(PROM_DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 10
    return exprs


def substitute(expr: str) -> str:
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert not re.search(r"\$\w", expr), f"unsubstituted Grafana variable in {expr!r}"
    return expr


@pytest.mark.slow
def test_prometheus_scrapes_the_agent_view(tmp_path):
    metrics = ReceiverMetrics()
    metrics.observe_spans(known_batch())
    metrics.observe_spans(known_batch())
    metrics.received("traces", 14)
    metrics.observe_write("traces", 14, 0.01)
    server = metrics.serve("127.0.0.1", 0)
    try:
        with running_prometheus(tmp_path, f"127.0.0.1:{server.port}", rule_files=[RULES]) as prometheus:
            up = wait_for(lambda: promql(prometheus, 'up{job="agentotel"} == 1'), timeout=20)
            assert up, "Prometheus never scraped the receiver"
            wait_for(lambda: promql(prometheus, "agentotel_llm_tokens_total"), timeout=10)

            by_type = {
                r["metric"]["type"]: float(r["value"][1])
                for r in promql(prometheus, 'sum by (type) (agentotel_llm_tokens_total{model="gpt-4o"})')
            }
            assert by_type == {"input": 500.0, "output": 100.0}
            executions = {
                r["metric"]["status"]: float(r["value"][1])
                for r in promql(prometheus, 'sum by (status) (agentotel_agent_executions_total{agent="planner"})')
            }
            assert executions == {"success": 2.0, "error": 2.0}
            (cost,) = promql(prometheus, "sum(agentotel_llm_cost_usd_total)")
            assert float(cost["value"][1]) == pytest.approx(0.06)
            (tools,) = promql(prometheus, 'agentotel_tool_calls_total{tool="search",status="error"}')
            assert float(tools["value"][1]) == 2.0
            (written,) = promql(prometheus, 'agentotel_receiver_written_total{signal="traces"}')
            assert float(written["value"][1]) == 14.0

            for expr in dashboard_expressions():  # every dashboard query parses and evaluates
                promql(prometheus, substitute(expr))

            groups = wait_for(lambda: _rule_groups(prometheus), timeout=10)
            assert {"agentotel.recording", "agentotel.alerts"} <= {g["name"] for g in groups}
            assert all(rule["health"] != "err" for g in groups for rule in g["rules"])  # "unknown" until first run
    finally:
        server.close()


def _rule_groups(base: str) -> list[dict]:
    import httpx

    return httpx.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"]


def test_shipped_rules_pass_promtool_check_and_unit_tests():
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", str(RULES.with_name("agentotel-rules.test.yml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    config = _promtool("check", "config", str(RULES.with_name("prometheus.yml")))
    assert config.returncode == 0, config.stdout + config.stderr


# agentotel's own default alert rules -> the Prometheus alerts that mirror them (latency: ms -> s)
MIRRORED = {
    "high-error-rate": ("AgentotelHighErrorRate", 1),
    "slow-p95-latency": ("AgentotelHighP95Latency", 1000),
    "cost-per-hour": ("AgentotelHighCostPerHour", 1),
    "tool-error-rate": ("AgentotelHighToolErrorRate", 1),
}


def _number(value: float) -> str:
    return f"{value:g}"


def test_rules_mirror_the_alerting_defaults():
    import yaml

    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"]: rule for g in groups for rule in g["rules"] if "alert" in rule}
    assert {"AgentotelTokenBurnAnomaly", "AgentotelTokenBurnRising", "AgentotelErrorsAndSlow"} <= set(alerts)
    ours = yaml.safe_load((OTEL_CONFIG / "alert-rules.example.yaml").read_text())["rules"]
    by_id = {rule["id"]: rule for rule in ours}
    assert set(MIRRORED) <= set(by_id), "the alerting defaults changed: update agentotel-rules.yml and MIRRORED"
    for rule_id, (alert_name, scale) in MIRRORED.items():
        rule, alert = by_id[rule_id], alerts[alert_name]
        assert f"> {_number(rule['value'] / scale)}" in alert["expr"], rule_id
        if "resolve_value" in rule:
            assert f"> {_number(rule['resolve_value'] / scale)}" in alert["expr"], rule_id
        assert alert.get("for", "0s") == rule.get("for", "0s"), rule_id
        assert alert["labels"]["severity"] == rule["severity"], rule_id
    assert alerts["AgentotelErrorsAndSlow"]["labels"]["severity"] == by_id["errors-and-slow"]["severity"]
    assert alerts["AgentotelTokenBurnAnomaly"]["for"] == by_id["token-burn"]["for"]


def test_dashboard_expressions_parse_with_promtool(tmp_path):
    """Without a server: every dashboard expression as a recording rule through promtool's parser."""
    import yaml

    rules = [{"record": f"dashboard:expr_{i}", "expr": substitute(e)} for i, e in enumerate(dashboard_expressions())]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
