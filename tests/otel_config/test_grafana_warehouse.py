"""Every SQL query of the Grafana warehouse dashboard runs on a real PostgreSQL warehouse filled by the real
span writer (with this package's hooks), the metrics writer and an alert row; Grafana macros substituted."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from sqlalchemy import create_engine, insert, text

from agentotel.otlp_receiver.prometheus_view import ReceiverMetrics
from agentotel.processors.logs import attach_pending_content
from agentotel.processors.metrics import link_pending_metrics, write_metrics
from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.writer import WarehouseWriter
from agentotel.warehouse.models import Alert
from tests.otel_config.support import OTEL_CONFIG

DASHBOARD = OTEL_CONFIG / "grafana" / "dashboards" / "agentotel-warehouse.json"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
FROM, TO = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
INTERVAL_SECONDS = 60


@pytest.fixture
def pg_engine(engine, dialect):
    if dialect != "postgresql":
        pytest.skip("the Grafana warehouse dashboard targets PostgreSQL")
    return engine


def _span(trace: str, span_id: str, parent: str | None, span_type: str, offset_s: float, duration_s: float, **fields):
    start = int((NOW - timedelta(minutes=10)).timestamp() * 1e9) + int(offset_s * 1e9)
    span = SpanRecord(
        trace_id=trace, span_id=span_id, parent_span_id=parent, name=f"{span_type} {span_id}", kind="INTERNAL",
        start_ns=start, end_ns=start + int(duration_s * 1e9), status_code=fields.pop("status", "UNSET"),
        status_message=fields.pop("message", None), attributes={}, resource_attributes={"service.name": "svc"},
        events=[], links=[], service_name="svc", span_type=span_type,
    )  # fmt: skip
    for key, value in fields.items():
        setattr(span, key, value)
    return span


def warehouse_batch() -> SpanBatch:
    t1, t2 = "a" * 32, "b" * 32
    chat = {"provider": "openai", "request_model": "gpt-4o", "response_model": "gpt-4o-2024-08-06"}
    return SpanBatch(
        spans=[
            _span(t1, "1" * 16, None, "agent", 0, 3, agent_name="planner"),
            _span(t1, "2" * 16, "1" * 16, "llm", 0.1, 1, llm={**chat, "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.01}),
            _span(t1, "3" * 16, "1" * 16, "tool", 1.2, 0.3, tool={"tool_name": "search", "success": True}),
            _span(t2, "4" * 16, None, "agent", 5, 2, status="ERROR", message="tool failed", agent_name="planner"),
            _span(t2, "5" * 16, "4" * 16, "tool", 5.1, 0.2, status="ERROR",
                  tool={"tool_name": "search", "success": False, "error_message": "timeout"}),
            _span(t2, "6" * 16, "4" * 16, "llm", 5.4, 0.5,
                  llm={"provider": "anthropic", "request_model": "claude-3-5-sonnet", "input_tokens": 10, "output_tokens": 5}),
        ]
    )  # fmt: skip


def token_usage_requests() -> list:
    """gen_ai.client.token.usage from a cumulative producer that restarts, and from a delta producer."""
    from opentelemetry.sdk.resources import Resource

    requests = []
    resource = Resource({"service.name": "svc", "service.instance.id": "fixed"})  # same series across the restart
    for values in ([100, 50], [30]):  # the second list is a restarted process: its series starts again
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader], resource=resource)
        histogram = provider.get_meter("m").create_histogram("gen_ai.client.token.usage")
        for value in values:
            histogram.record(value, {"gen_ai.request.model": "gpt-4o", "gen_ai.token.type": "input"})
            requests.append(encode_metrics(reader.get_metrics_data()))
    reader = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader], resource=Resource({"service.name": "svc2"}))
    histogram = provider.get_meter("m").create_histogram("gen_ai.client.token.usage")
    for value in (40, 60):
        histogram.record(value, {"gen_ai.request.model": "claude", "gen_ai.token.type": "input"})
        requests.append(encode_metrics(reader.get_metrics_data()))
    return requests


def populate(engine) -> ReceiverMetrics:
    view = ReceiverMetrics()
    writer = WarehouseWriter(engine, observers=[view.observe_spans], after_insert=[attach_pending_content, link_pending_metrics])
    writer.consume(warehouse_batch())
    for request in token_usage_requests():
        write_metrics(engine, request)
    with engine.begin() as conn:
        conn.execute(
            insert(Alert.__table__),
            [
                {"rule_id": "high-error-rate", "timestamp": NOW - timedelta(minutes=5), "severity": "warning",
                 "message": "error rate 50 %", "status": "firing", "acknowledged": False},
                {"rule_id": "cost", "timestamp": NOW - timedelta(minutes=20), "severity": "critical",
                 "message": "cost", "status": "resolved", "acknowledged": True, "resolved_at": NOW},
            ],
        )  # fmt: skip
    return view


def grafana_sql(sql: str) -> str:
    """The PostgreSQL macros and variables as Grafana expands them."""
    sql = sql.replace("$__interval", "'1m'")
    iso = lambda moment: moment.strftime("'%Y-%m-%dT%H:%M:%SZ'")  # noqa: E731
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m[1]} BETWEEN {iso(FROM)} AND {iso(TO)}", sql)
    sql = sql.replace("$__timeFrom()", iso(FROM)).replace("$__timeTo()", iso(TO))
    group = rf"floor(extract(epoch from \1)/{INTERVAL_SECONDS})*{INTERVAL_SECONDS}"
    sql = re.sub(r"\$__timeGroupAlias\(([^,]+),\s*'1m'\)", group + ' AS "time"', sql)
    sql = re.sub(r"\$__timeGroup\(([^,]+),\s*'1m'\)", group, sql)
    sql = sql.replace("$agent", "'planner','other'")
    assert "$" not in sql, f"unexpanded Grafana macro in:\n{sql}"
    return sql


def panels() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    out = {panel["title"]: target["rawSql"] for panel in dashboard["panels"] for target in panel["targets"]}
    assert len(out) >= 10
    return out


def test_every_dashboard_query_runs_on_the_warehouse(pg_engine, db_url):
    view = populate(pg_engine)
    # the writer ran our hooks: the Prometheus view saw exactly the committed spans
    from prometheus_client import generate_latest

    assert 'agentotel_agent_executions_total{agent="planner",status="error"} 1.0' in generate_latest(view.registry).decode()
    # Grafana connects as a plain client: run the expanded SQL through a driver connection, read-only
    readonly = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    results = {}
    try:
        with readonly.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            for title, sql in panels().items():
                results[title] = [dict(row._mapping) for row in conn.execute(text(grafana_sql(sql)))]
    finally:
        readonly.dispose()

    assert {r["agent"]: r["executions"] for r in results["Agents"]} == {"planner": 2}
    assert results["Agents"][0]["success_rate"] == pytest.approx(0.5)
    assert sum(r["executions"] for r in results["Executions and errors"]) == 2
    assert sum(r["errors"] for r in results["Executions and errors"]) == 1
    models = {r["model"]: r for r in results["Models"]}
    assert models["gpt-4o-2024-08-06"]["calls"] == 1 and models["gpt-4o-2024-08-06"]["input_tokens"] == 100
    assert models["claude-3-5-sonnet"]["provider"] == "anthropic"
    assert float(results["Total cost"][0]["cost_usd"]) == pytest.approx(0.01)
    search = {r["tool"]: r for r in results["Tool errors"]}["search"]
    assert (search["calls"], search["errors"], search["an_error"]) == (2, 1, "timeout")
    assert [r["tool_name"] for r in results["Recent tool failures"]] == ["search"]
    assert {r["rule_id"] for r in results["Alerts"]} == {"high-error-rate", "cost"}
    assert results["Open alerts"][0]["open_alerts"] == 1

    # OTLP token usage: cumulative differences (reset on restart) and deltas, never double counted
    usage: dict[str, float] = {}
    for row in results["Token usage from OTLP metrics (gen_ai.client.token.usage)"]:
        usage[row["metric"]] = usage.get(row["metric"], 0) + row["value"]
    assert usage == {"gpt-4o input": 180.0, "claude input": 100.0}


def test_macro_expansion_rejects_unknown_macros():
    with pytest.raises(AssertionError):
        grafana_sql("SELECT $__unixEpochFilter(x)")
