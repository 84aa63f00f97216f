"""A seeded warehouse for the dashboard tests: spans through the receiver's real trace pipeline, metric
points, registry versions, evaluation runs (real benchmark suite) and a firing alert (real manager)."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from agentotel.processors.records import SpanBatch, SpanRecord

VIEWS = Path(__file__).resolve().parents[2] / "dashboard" / "views"
PAGES = ("overview", "traces", "llm", "tools", "agents", "evaluations", "alerts", "system", "analytics")
SCRIPT = "<script>document.title='pwned';fetch('http://127.0.0.1:{port}/script')</script>"
IMAGE = "![](http://127.0.0.1:{port}/leak)"
MARKER = "leak-probe-content"


@dataclass
class Seeded:
    traces: dict[str, str] = field(default_factory=dict)  # label -> trace id
    alert_id: int | None = None
    run_ids: list[str] = field(default_factory=list)


def _span(trace_id: str, parent: str | None, name: str, start_ns: int, duration_ms: float, attributes: dict,
          status: str = "UNSET", service: str = "shop", message: str | None = None) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id, span_id=secrets.token_hex(8), parent_span_id=parent, name=name,
        kind="CLIENT" if attributes.get("gen_ai.operation.name") == "chat" else "INTERNAL",
        start_ns=start_ns, end_ns=start_ns + int(duration_ms * 1e6), status_code=status, status_message=message,
        attributes=attributes, resource_attributes={"service.name": service}, events=[], links=[],
        scope_name="tests.dashboard", service_name=service,
    )


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def agent_trace(agent: str, version: str, model: str, provider: str, tool: str, start_ns: int, *,
                tool_fails: bool = False, service: str = "shop", question: str = "Where is my order?",
                answer: str = "It ships tomorrow.") -> list[SpanRecord]:
    """An agent span with an LLM call, a tool call and a second LLM call beneath it."""
    trace_id = secrets.token_hex(16)
    root = _span(trace_id, None, f"invoke_agent {agent}", start_ns, 900, {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.agent.version": version,
        "gen_ai.input.messages": _messages("user", question), "gen_ai.output.messages": _messages("assistant", answer),
    }, status="ERROR" if tool_fails else "UNSET", service=service, message="tool failed" if tool_fails else None)
    llm_attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
                 "gen_ai.response.model": model, "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40,
                 "gen_ai.input.messages": _messages("user", question),
                 "gen_ai.output.messages": _messages("assistant", answer)}
    first = _span(trace_id, root.span_id, f"chat {model}", start_ns + 10_000_000, 300, dict(llm_attrs), service=service)
    tool_span = _span(trace_id, root.span_id, f"execute_tool {tool}", start_ns + 320_000_000, 80, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": "call_1",
    }, status="ERROR" if tool_fails else "UNSET", service=service, message="timeout" if tool_fails else None)
    second = _span(trace_id, root.span_id, f"chat {model}", start_ns + 420_000_000, 400, dict(llm_attrs), service=service)
    return [root, first, tool_span, second]


FORMULA_AGENT = "=cmd|' /C calc'!A0"


def seed_telemetry(engine: Engine, leak_port: int = 9, formula_agent: bool = False) -> Seeded:
    """Traces of three agents (some failing) a few minutes ago, one of them carrying hostile content
    (a script tag and a Markdown image pointing at ``leak_port``), plus host metric points; with
    ``formula_agent`` also a trace of an agent whose name is a spreadsheet formula."""
    from agentotel.core.settings import ReceiverSettings
    from agentotel.processors.pipeline import build_trace_pipeline

    seeded = Seeded()
    now = time.time_ns()
    spans: list[SpanRecord] = []
    for i in range(6):
        spans += agent_trace("support-agent", "1.2.0", "gpt-4o-mini", "openai", "lookup_order",
                             now - (20 - i) * 60_000_000_000, tool_fails=i == 5)
    for i in range(3):
        spans += agent_trace("sql-agent", "2.1.0", "claude-3-5-sonnet", "anthropic", "run_sql",
                             now - (14 - i) * 60_000_000_000, tool_fails=i == 0, service="analytics")
    hostile = SCRIPT.format(port=leak_port) + " " + IMAGE.format(port=leak_port) + " " + MARKER
    probe = agent_trace("research-agent", "0.4.0", "gpt-4o", "openai", "web_search", now - 5 * 60_000_000_000,
                        question=hostile, answer=hostile)
    probe[0].name = f"invoke_agent {IMAGE.format(port=leak_port)}"  # a hostile span name too
    spans += probe
    if formula_agent:
        spans += agent_trace(FORMULA_AGENT, "1.0.0", "gpt-4o-mini", "openai", "search", now - 3 * 60_000_000_000)
    seeded.traces = {"probe": probe[0].trace_id, "support": spans[0].trace_id}
    settings = ReceiverSettings(redact_pii=False)  # keep the probe's URL intact for the leak test
    build_trace_pipeline(engine, settings).consume(SpanBatch(spans=spans))
    _seed_metrics(engine)
    return seeded


def _seed_metrics(engine: Engine) -> None:
    from datetime import datetime, timedelta, timezone

    from agentotel.warehouse.models import Metric

    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = []
    for i in range(10):
        at = now - timedelta(minutes=10 - i)
        for name, value, unit in (("process.cpu.utilization", 0.1 + i / 100, "1"),
                                  ("system.memory.usage", 2.0e9 + i * 1e7, "By")):
            rows.append({"metric_name": name, "value": value, "timestamp": at, "tags": {"host": "test"},
                         "series_key": f"{name}-test", "metric_type": "gauge", "unit": unit, "service_name": "shop"})
    with engine.begin() as conn:
        conn.execute(insert(Metric), rows)


def seed_components(engine: Engine, seeded: Seeded) -> Seeded:
    """Registry versions (support-agent 1.2.0 active in dev, 1.3.0 registered), two evaluation runs and
    a firing alert, through the components' own APIs."""
    from agentotel.alerting.manager import AlertManager
    from agentotel.demo import DemoSummary, _evaluations
    from agentotel.registry import AgentMetadata, AgentRegistry

    registry = AgentRegistry(engine)
    for version in ("1.2.0", "1.3.0"):
        registry.register_agent(AgentMetadata("support-agent", version, model_type="gpt-4o-mini"), actor="seed")
    registry.versions.promote("support-agent", "1.2.0", "dev", actor="seed", reason="first rollout")
    summary = DemoSummary()
    _evaluations(engine, summary)
    seeded.run_ids = summary.evaluation_runs
    seeded.alert_id = AlertManager(engine).create_alert(
        "high-error-rate", "critical", "Error rate 33% on agent sql-agent", labels={"agent": "sql-agent"}, value=0.33,
        by="seed")
    return seeded


def seed_all(engine: Engine, leak_port: int = 9, formula_agent: bool = False) -> Seeded:
    return seed_components(engine, seed_telemetry(engine, leak_port, formula_agent))


def table_counts(engine: Engine) -> dict[str, int]:
    """Row counts of the tables the dashboard reads (to show that hostile filters change nothing)."""
    from agentotel.warehouse.models import Base

    counts = {}
    with engine.connect() as conn:
        for name in ("spans", "llm_calls", "tool_calls", "agent_executions", "metrics", "alerts", "agents",
                     "evaluation_runs", "registry_deployments", "alert_audit_log", "registry_audit_log"):
            table = Base.metadata.tables[name]
            counts[name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return counts


def dashboard_env(monkeypatch, db_url: str, **extra: str) -> None:
    """Point the dashboard at ``db_url`` with auth off unless ``extra`` configures it."""
    from agentotel.dashboard.auth import ANONYMOUS_ROLE_ENV, API_KEYS_ENV, USERS_ENV
    from agentotel.dashboard.data import DB_URL_ENV

    monkeypatch.setenv(DB_URL_ENV, db_url)
    for name in (USERS_ENV, API_KEYS_ENV, ANONYMOUS_ROLE_ENV, f"{USERS_ENV}_FILE", f"{API_KEYS_ENV}_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")


@contextmanager
def dashboard_warehouse(dialect: str, directory: Path) -> Iterator[tuple[str, Engine]]:
    """A migrated, empty warehouse of ``dialect`` for a module- or session-wide fixture of the dashboard tests:
    its URL and an engine. Afterwards the engine and the dashboard's cached engine on the URL are disposed and a
    PostgreSQL database is dropped."""
    from agentotel.dashboard import data
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade
    from tests.conftest import drop_postgres_database, new_postgres_database

    if dialect == "sqlite":
        url = f"sqlite:///{directory}/warehouse.db"
        engine = create_db_engine(url)
        upgrade(engine)
    else:
        url = new_postgres_database()
        engine = create_db_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        if dialect == "postgresql":
            try:  # its pooled connections would keep the database from being dropped
                data.engine(url).dispose()
            except Exception:  # noqa: BLE001 - best effort before the database is dropped
                pass
            drop_postgres_database(url)
