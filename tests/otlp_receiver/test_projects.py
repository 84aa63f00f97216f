"""Issue 20 point 1: the receiver stamps every row with the project of the API key that sent it — a key of
project A writes into A whatever the resource attributes say; the static keys write into ``default``; a
``read`` key, a revoked key and no key are refused. Real receiver, real OTel SDK exporters (gRPC and HTTP),
SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from agentotel.warehouse.api_keys import create_key, revoke_key
from agentotel.warehouse.engine import create_db_engine
from tests.otlp_receiver.test_bad_input import TRACE_METHOD, span_request
from tests.support.polling import wait_for
from tests.support.receiver import running_receiver

STATIC = "static-key-of-the-default-project"
TABLES = ("spans", "llm_calls", "tool_calls", "agent_executions")


def spans_claiming(project: str | None, agent: str):
    """An agent run (agent span → chat → tool) whose resource claims ``agentotel.project = project``."""
    exporter = InMemorySpanExporter()
    attributes = {"service.name": f"svc-{agent}"} | ({"agentotel.project": project} if project else {})
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.projects")
    with tracer.start_as_current_span(f"invoke_agent {agent}", attributes={"gen_ai.operation.name": "invoke_agent",
                                                                          "gen_ai.agent.name": agent}):  # fmt: skip
        with tracer.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                                                                "gen_ai.usage.input_tokens": 3}):  # fmt: skip
            pass
        with tracer.start_as_current_span("execute_tool t", attributes={"gen_ai.operation.name": "execute_tool",
                                                                        "gen_ai.tool.name": "t"}):  # fmt: skip
            pass
    provider.shutdown()
    return exporter.get_finished_spans()


def by_project(engine, table: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT project_id, count(*) FROM {table} GROUP BY project_id"))  # noqa: S608
        return {r[0]: r[1] for r in rows}


@pytest.mark.slow
def test_each_row_carries_the_key_project_whatever_the_resource_says(db_url, tmp_path):
    engine = create_db_engine(db_url)
    actor = "test"
    _, key_a = create_key(engine, "alpha", "ingest", actor)
    _, key_b = create_key(engine, "beta", "admin", actor)
    _, read_a = create_key(engine, "alpha", "read", actor)
    with running_receiver(db_url, str(tmp_path / "spool"), api_keys=(STATIC,)) as server:
        grpc_url, http_url = f"127.0.0.1:{server.grpc_port}", f"http://127.0.0.1:{server.http_port}/v1/traces"
        # A's key over gRPC, its spans claiming to be beta's: they land in alpha
        sent = GrpcSpanExporter(endpoint=grpc_url, insecure=True, headers={"authorization": f"Bearer {key_a}"})
        assert sent.export(spans_claiming("beta", "a-agent")) == SpanExportResult.SUCCESS
        # B's key over HTTP, claiming nothing
        sent_b = HttpSpanExporter(endpoint=http_url, headers={"x-api-key": key_b})
        assert sent_b.export(spans_claiming(None, "b-agent")) == SpanExportResult.SUCCESS
        # the static key, claiming alpha: default
        static = GrpcSpanExporter(endpoint=grpc_url, insecure=True, headers={"authorization": f"Bearer {STATIC}"})
        assert static.export(spans_claiming("alpha", "d-agent")) == SpanExportResult.SUCCESS
        assert wait_for(lambda: sum(by_project(engine, "agent_executions").values()) == 3, timeout=20)
        for table in TABLES:
            per_project = 3 if table == "spans" else 1
            assert by_project(engine, table) == {"alpha": per_project, "beta": per_project, "default": per_project}, table
        with engine.connect() as conn:
            agents = dict(conn.execute(text("SELECT agent_name, project_id FROM agent_executions")).all())
        assert agents == {"a-agent": "alpha", "b-agent": "beta", "d-agent": "default"}

        # refused: a read key, no key, an unknown key (HTTP 401 / gRPC UNAUTHENTICATED)
        for headers in ({"x-api-key": read_a}, {}, {"x-api-key": "aot_00000000_nope"}):
            refused = HttpSpanExporter(endpoint=http_url, headers=headers)
            assert refused.export(spans_claiming(None, "x")) == SpanExportResult.FAILURE
        with grpc.insecure_channel(grpc_url) as channel, pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(TRACE_METHOD).with_call(span_request().SerializeToString(),
                                                        metadata=(("x-api-key", read_a),), timeout=10)  # fmt: skip
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert sum(by_project(engine, "spans").values()) == 9
    engine.dispose()


@pytest.mark.slow
def test_a_revoked_key_is_refused_once_the_store_refreshes(db_url):
    from agentotel.otlp_receiver.auth import ApiKeyAuth, KeyStore
    from agentotel.warehouse.api_keys import active_keys

    engine = create_db_engine(db_url)
    key_id, key = create_key(engine, "alpha", "ingest", "test")
    auth = ApiKeyAuth((STATIC,), KeyStore(lambda: active_keys(engine), refresh_seconds=0.0))
    assert auth.project_of(f"Bearer {key}", None) == "alpha"
    assert auth.project_of(None, STATIC) == "default"
    revoke_key(engine, key_id, "test")
    assert wait_for(lambda: auth.project_of(f"Bearer {key}", None) is None, timeout=5)
    assert auth.project_of(None, STATIC) == "default"  # the static keys keep working
    engine.dispose()


def _gauge_request(project_claim: str | None):
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
    if project_claim:
        resource.resource.attributes.append(KeyValue(key="agentotel.project", value=AnyValue(string_value=project_claim)))
    metric = resource.scope_metrics.add().metrics.add(name="queue.depth", unit="1")
    metric.gauge.data_points.add(time_unix_nano=1_765_000_000_000_000_000, as_int=7)
    return request.SerializeToString()


@pytest.mark.slow
def test_metric_points_carry_the_key_project(db_url, tmp_path):
    import httpx

    engine = create_db_engine(db_url)
    _, key_a = create_key(engine, "alpha", "ingest", "test")
    with running_receiver(db_url, str(tmp_path / "spool"), api_keys=(STATIC,)) as server:
        url = f"http://127.0.0.1:{server.http_port}/v1/metrics"
        for key, claim in ((key_a, "beta"), (STATIC, "alpha")):
            answer = httpx.post(url, content=_gauge_request(claim), timeout=10,
                                headers={"Content-Type": "application/x-protobuf", "x-api-key": key})  # fmt: skip
            assert answer.status_code == 200
        assert wait_for(lambda: by_project(engine, "metrics") == {"alpha": 1, "default": 1}, timeout=20)
    engine.dispose()


def _agents_scraped(url: str, key: str | None) -> tuple[int, set[str], set[str]]:
    """A scrape of ``/metrics`` with ``key``: (status, the agents of its agent series, its metric families)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    answer = httpx.get(url, headers={"authorization": f"Bearer {key}"} if key else {}, timeout=10)
    if answer.status_code != 200:
        return answer.status_code, set(), set()
    families = list(text_string_to_metric_families(answer.text))
    agents = {s.labels["agent"] for f in families for s in f.samples if "agent" in s.labels and s.value > 0}
    return 200, agents, {f.name for f in families}


@pytest.mark.slow
def test_metrics_show_each_key_its_own_project(db_url, tmp_path):
    """/metrics with keys configured: no key or an unknown one is refused (401); the static key reads the
    receiver's health and the default project's agents; a key of A, of any scope, reads A's agents only."""
    engine = create_db_engine(db_url)
    _, key_a = create_key(engine, "alpha", "ingest", "test")
    _, read_a = create_key(engine, "alpha", "read", "test")
    _, key_b = create_key(engine, "beta", "ingest", "test")
    with running_receiver(db_url, str(tmp_path / "spool"), api_keys=(STATIC,)) as server:
        grpc_url = f"127.0.0.1:{server.grpc_port}"
        for key, agent in ((key_a, "a-agent"), (key_b, "b-agent"), (STATIC, "d-agent")):
            exporter = GrpcSpanExporter(endpoint=grpc_url, insecure=True, headers={"authorization": f"Bearer {key}"})
            assert exporter.export(spans_claiming(None, agent)) == SpanExportResult.SUCCESS
        assert wait_for(lambda: sum(by_project(engine, "agent_executions").values()) == 3, timeout=20)
        url = f"http://127.0.0.1:{server.settings.metrics_port}/metrics"
        assert wait_for(lambda: _agents_scraped(url, STATIC)[1] == {"d-agent"}, timeout=10)
        _, _, health = _agents_scraped(url, STATIC)
        assert "agentotel_receiver_received" in health
        assert _agents_scraped(url, None)[0] == 401 and _agents_scraped(url, "aot_00000000_nope")[0] == 401
        for key in (key_a, read_a):
            status, agents, families = _agents_scraped(url, key)
            assert (status, agents) == (200, {"a-agent"}) and "agentotel_receiver_received" not in families
        assert _agents_scraped(url, key_b)[:2] == (200, {"b-agent"})
    engine.dispose()
