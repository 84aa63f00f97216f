"""Telemetry → registry: real OTel SDK spans through the real receiver; discovered versions and their figures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentotel.registry import (
    AgentMetadata,
    GatePolicy,
    PromotionGate,
    WarehouseEvaluationStore,
    discovered_versions,
    environment_overview,
    environment_stats,
    version_stats,
)
from agentotel.registry.telemetry import normalize_environment
from tests.registry.support import count_rows, make_registry
from tests.support.polling import wait_for

pytestmark = pytest.mark.receiver(redact_pii=False)  # no content in these spans


def agent_runs(agent: str, version: str | None, environment: str | None, runs: int, failures: int, tokens=(100, 20)):
    """Finished SDK spans: ``runs`` invoke_agent traces (``failures`` of them failed), one chat call each."""
    exporter = InMemorySpanExporter()
    resource = {"service.name": f"{agent}-svc"}
    if environment:
        resource["deployment.environment.name"] = environment
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.registry")
    attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.provider.name": "openai"}
    if version:
        attrs["gen_ai.agent.version"] = version
    for i in range(runs):
        with tracer.start_as_current_span(f"invoke_agent {agent}", attributes=attrs) as span:
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": tokens[0], "gen_ai.usage.output_tokens": tokens[1],
            }):  # fmt: skip
                pass
            if i < failures:
                span.set_status(Status(StatusCode.ERROR, "tool crashed"))
    provider.shutdown()
    return exporter.get_finished_spans()


def test_discovered_versions_and_figures_per_version_and_environment(receiver):
    engine = receiver.engine
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True, timeout=5)
    batches = [
        agent_runs("support-bot", "1.0.0", "production", runs=4, failures=1),
        agent_runs("support-bot", "1.0.0", "staging", runs=2, failures=0),
        agent_runs("support-bot", "1.1.0", "staging", runs=3, failures=3),
        agent_runs("support-bot", None, None, runs=1, failures=0),
    ]
    for spans in batches:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    assert wait_for(lambda: count_rows(engine, "agent_executions") == 10, timeout=30)

    # discovered: every (name, version) the receiver saw, version '' when unknown
    found = {v.version: v for v in discovered_versions(engine, "support-bot")}
    assert set(found) == {"1.0.0", "1.1.0", ""}
    assert all(v.source == "telemetry" for v in found.values())

    # registering adopts the discovered row; its executions are the version's executions
    registry = make_registry(engine)
    registry.register_agent(AgentMetadata("support-bot", "1.0.0", model_type="gpt-4o-mini"), actor="ana")
    registry.register_agent(AgentMetadata("support-bot", "2.0.0"), actor="ana")  # not running anywhere yet
    assert {v.version for v in discovered_versions(engine, "support-bot")} == {"1.1.0", ""}

    stats = {s.version: s for s in version_stats(engine, "support-bot")}
    assert list(stats) == ["1.0.0", "1.1.0", "2.0.0", ""]  # semver order, unknown version last
    v1, v11, v2 = stats["1.0.0"], stats["1.1.0"], stats["2.0.0"]
    assert (v1.source, v1.executions, v1.failures) == ("registry", 6, 1)
    assert v1.error_rate == pytest.approx(1 / 6)
    assert v1.tokens == 6 * 120
    assert v1.cost_usd > 0 and v1.avg_cost_usd == pytest.approx(v1.cost_usd / 6)
    assert v1.avg_duration_ms is not None and v1.avg_duration_ms >= 0
    assert v1.first_execution <= v1.last_execution and v1.last_execution.tzinfo is not None
    assert (v11.source, v11.executions, v11.failures, v11.error_rate) == ("telemetry", 3, 3, 1.0)
    assert (v2.source, v2.executions, v2.error_rate, v2.cost_usd) == ("registry", 0, None, 0.0)
    assert stats[""].executions == 1

    per_env = {(s.version, s.environment): s for s in environment_stats(engine, "support-bot")}
    assert set(per_env) == {("1.0.0", "prod"), ("1.0.0", "staging"), ("1.1.0", "staging"), ("", None)}
    assert (per_env[("1.0.0", "prod")].executions, per_env[("1.0.0", "prod")].failures) == (4, 1)
    assert per_env[("1.0.0", "staging")].executions == 2 and per_env[("1.0.0", "staging")].error_rate == 0.0
    assert per_env[("1.0.0", "prod")].cost_usd + per_env[("1.0.0", "staging")].cost_usd == pytest.approx(v1.cost_usd)
    only = environment_stats(engine, "support-bot", versions=["1.1.0"])
    assert [(s.version, s.environment, s.executions) for s in only] == [("1.1.0", "staging", 3)]

    # the environments view: the version active there and what it does there
    open_gate = PromotionGate(WarehouseEvaluationStore(engine), policies={e: GatePolicy() for e in ("dev", "staging", "prod")})
    vm = make_registry(engine, open_gate).versions
    for env in ("dev", "staging", "prod"):
        vm.promote("support-bot", "1.0.0", env, actor="ana")
    overview = {o.environment: o for o in environment_overview(engine, "support-bot")}
    assert overview["prod"].active_version == "1.0.0" and overview["prod"].stats.executions == 4
    assert overview["staging"].stats.executions == 2
    assert overview["dev"].active_version == "1.0.0" and overview["dev"].stats is None  # no dev traffic

    # time windows
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert {s.version: s.executions for s in version_stats(engine, "support-bot", since=future)}["1.0.0"] == 0
    assert environment_stats(engine, "support-bot", since=future) == []


def test_environment_names_are_folded():
    assert [normalize_environment(v) for v in ("Production", "prd", "STAGING", "stage", "development", "qa", "", None)] == [
        "prod", "prod", "staging", "staging", "dev", "qa", None, None,
    ]  # fmt: skip
