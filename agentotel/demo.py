"""The demo workload: realistic agent traffic through our own instrumentation into a running receiver.

``run_demo(otlp_endpoint, db_url, duration_s)`` runs four agents (support-agent 1.2.0 and 1.3.0,
research-agent, sql-agent) on three models (gpt-4o-mini and gpt-4o through the instrumented ``openai``
client; claude-3-5-sonnet through ``AgentTracer.trace_llm_call`` with provider ``anthropic``) against a
loopback fake LLM (``agentotel.demo_llm``), with tools and some failures (rate limits, server errors,
failing tools). Spans, metrics and the performance monitor's host metrics go over OTLP to the receiver.
Then, straight into the warehouse: registry versions with promotions, two evaluation runs (the newer
version slightly worse, so the comparison shows a regression) and a firing alert from a real threshold
rule. It stops by itself (``duration_s`` and ``max_runs``) and can run again on the same warehouse.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("agentotel.demo")

SERVICE_NAME = "agentotel-demo"
ACTOR = "demo"


@dataclass(frozen=True)
class DemoAgent:
    name: str
    version: str
    model: str
    provider: str  # openai: instrumented client spans; anything else: AgentTracer.trace_llm_call
    tools: tuple[str, ...]
    tool_failure_rate: float
    llm_failure_rate: float
    weight: int
    questions: tuple[str, ...]


AGENTS = (
    DemoAgent("support-agent", "1.2.0", "gpt-4o-mini", "openai", ("lookup_order", "search_kb"), 0.03, 0.02, 4,
              ("Where is my order 1042?", "How do I reset my password?", "Can I change my delivery address?")),
    DemoAgent("support-agent", "1.3.0", "gpt-4o-mini", "openai", ("lookup_order", "search_kb"), 0.10, 0.05, 2,
              ("Where is my order 2210?", "What is your refund policy?", "My invoice is wrong, help")),
    DemoAgent("research-agent", "0.4.0", "gpt-4o", "openai", ("web_search",), 0.05, 0.04, 2,
              ("Summarise recent work on agent evaluation", "Compare vector databases for RAG")),
    DemoAgent("sql-agent", "2.1.0", "claude-3-5-sonnet", "anthropic", ("run_sql",), 0.25, 0.03, 2,
              ("Monthly revenue by region for 2024", "Top 10 customers by order count")),
)

TOOL_SCHEMAS = {
    "lookup_order": {"order_id": {"type": "string"}},
    "search_kb": {"query": {"type": "string"}},
    "web_search": {"query": {"type": "string"}},
    "run_sql": {"query": {"type": "string"}},
}


class ToolFailed(RuntimeError):
    """A demo tool failing the way real ones do (timeouts, bad SQL)."""


@dataclass
class DemoSummary:
    runs: int = 0
    failed_runs: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    evaluation_runs: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


DEFAULT_SECONDS = 20.0
SECONDS_ENV = "AGENTOTEL_DEMO_SECONDS"


def run_demo(otlp_endpoint: str = "http://127.0.0.1:4317", db_url: str | None = None, duration_s: float | None = None,
             max_runs: int = 300, seed: int | None = None, protocol: str | None = None) -> DemoSummary:
    """Send demo traffic to the receiver at ``otlp_endpoint`` for about ``duration_s`` seconds (at most
    ``max_runs`` agent runs), then add registry versions, two
    evaluation runs and a firing alert to the warehouse at ``db_url`` (skipped when None).

    ``protocol`` is ``grpc`` or ``http/protobuf``; by default gRPC for port 4317, else OTLP/HTTP.
    ``duration_s`` defaults to ``AGENTOTEL_DEMO_SECONDS`` (else 20)."""
    from urllib.parse import urlsplit

    from agentotel.core.settings import env_float
    from agentotel.demo_llm import DemoLLMServer

    if duration_s is None:
        duration_s = min(max(env_float(SECONDS_ENV, DEFAULT_SECONDS), 0.0), 3600.0)

    if protocol is None:
        protocol = "grpc" if urlsplit(otlp_endpoint).port == 4317 else "http/protobuf"

    rng = random.Random(seed)
    summary = DemoSummary()
    with DemoLLMServer() as llm:
        telemetry = _Telemetry(otlp_endpoint, protocol)
        try:
            _traffic(telemetry, llm.base_url, rng, summary, duration_s, max_runs)
            if db_url:
                _warehouse_extras(db_url, llm.base_url, telemetry, summary)
        finally:
            telemetry.shutdown()
    logger.info("demo: %d runs (%d failed), %d LLM calls, %d tool calls", summary.runs, summary.failed_runs,
                summary.llm_calls, summary.tool_calls)
    return summary


class _Telemetry:
    """Tracer and meter providers of our own (the host's global providers are left alone)."""

    def __init__(self, endpoint: str, protocol: str) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        from agentotel.instrumentation import AgentTracer, instrument

        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            metric_exporter = OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=5)
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            metric_exporter = OTLPMetricExporter(endpoint=endpoint.rstrip("/") + "/v1/metrics", timeout=5)
        resource = Resource.create({"service.name": SERVICE_NAME, "service.version": "demo"})
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.meter_provider = MeterProvider(
            resource=resource, shutdown_on_exit=False,
            metric_readers=[PeriodicExportingMetricReader(metric_exporter, export_interval_millis=2000)],
        )
        self.handle = instrument(SERVICE_NAME, endpoint, protocol=protocol, capture_content=True,
                                 tracer_provider=self.tracer_provider, meter_provider=self.meter_provider,
                                 instrumentors=["openai"], performance_monitor=True)
        self.tracer = AgentTracer(self.tracer_provider, self.meter_provider, capture_content=True)

    def shutdown(self) -> None:
        self.handle.shutdown(timeout=10)
        self.tracer_provider.force_flush(10_000)
        self.tracer_provider.shutdown()
        self.meter_provider.force_flush(10_000)
        self.meter_provider.shutdown(timeout_millis=10_000)


def _traffic(telemetry: _Telemetry, base_url: str, rng: random.Random, summary: DemoSummary,
             duration_s: float, max_runs: int) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="demo-key", max_retries=0, timeout=10)
    weights = [a.weight for a in AGENTS]
    # Every agent once, then one failing tool and one rate-limited model call, whatever the duration;
    # after that, random traffic until the time or run budget is spent.
    scripted = [(agent, None) for agent in AGENTS] + [(AGENTS[3], "tool"), (AGENTS[1], "429")]
    deadline = time.monotonic() + max(0.0, duration_s)
    while summary.runs < max_runs and (scripted or time.monotonic() < deadline):
        agent, forced = scripted.pop(0) if scripted else (rng.choices(AGENTS, weights)[0], None)
        question = rng.choice(agent.questions)
        try:
            _run_agent(telemetry.tracer, client, agent, question, rng, summary, forced)
        except Exception as exc:  # noqa: BLE001 - failures are part of the demo; the span has them
            summary.failed_runs += 1
            logger.debug("demo run of %s failed: %s", agent.name, exc)
        summary.runs += 1
        time.sleep(rng.uniform(0.02, 0.12))


def _run_agent(tracer: Any, client: Any, agent: DemoAgent, question: str, rng: random.Random,
               summary: DemoSummary, forced: str | None = None) -> str:
    """One agent run: model → tool → model. ``forced`` = ``tool`` fails the tool, ``429`` the first model call."""
    tool = rng.choice(agent.tools)
    tools = [{"type": "function", "function": {
        "name": tool, "description": f"demo tool {tool}",
        "parameters": {"type": "object", "properties": TOOL_SCHEMAS[tool], "required": list(TOOL_SCHEMAS[tool])}}}]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": f"You are {agent.name}. Use tools when they help."},
        {"role": "user", "content": question},
    ]
    with tracer.trace_agent_call(agent.name, version=agent.version, conversation_id=uuid.uuid4().hex[:12]) as run:
        first = _chat(tracer, client, agent, messages, tools, rng, summary, forced)
        call = first.choices[0].message.tool_calls[0]
        arguments = json.loads(call.function.arguments or "{}")
        with tracer.trace_tool_call(tool, call_id=call.id, arguments=arguments) as tool_scope:
            summary.tool_calls += 1
            time.sleep(rng.uniform(0.005, 0.05))
            if forced == "tool" or rng.random() < agent.tool_failure_rate:
                raise ToolFailed(f"{tool} timed out")
            result = _tool_result(tool, arguments)
            tool_scope.set_result(result)
        messages += [first.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": result}]
        answer = _chat(tracer, client, agent, messages, None, rng, summary).choices[0].message.content or ""
        run.set_attribute("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": [
            {"type": "text", "content": answer}]}]))
        return answer


def _chat(tracer: Any, client: Any, agent: DemoAgent, messages: list, tools: list | None, rng: random.Random,
          summary: DemoSummary, forced: str | None = None) -> Any:
    summary.llm_calls += 1
    headers = {}
    if forced == "429":
        headers["X-Demo-Fail"] = "429"
    elif rng.random() < agent.llm_failure_rate:
        headers["X-Demo-Fail"] = rng.choice(["429", "500"])
    kwargs: dict[str, Any] = {"model": agent.model, "messages": messages, "extra_headers": headers}
    if tools:
        kwargs["tools"] = tools
    if agent.provider == "openai":
        return client.chat.completions.create(**kwargs)
    with tracer.trace_llm_call(agent.model, provider=agent.provider, server_address="127.0.0.1") as scope:
        response = client.chat.completions.create(**kwargs)
        scope.record_response(response)
        return response


def _tool_result(tool: str, arguments: dict[str, Any]) -> str:
    text = " ".join(str(v) for v in arguments.values())
    return {
        "lookup_order": f"order status for '{text[:40]}': shipped, arrives in 2 days",
        "search_kb": f"3 articles match '{text[:40]}'; top: 'Account settings and security'",
        "web_search": f"5 results for '{text[:40]}'; top: survey paper (2024)",
        "run_sql": "12 rows: region, revenue (EMEA 1.2M, AMER 2.3M, APAC 0.9M)",
    }[tool]


# ---------------------------------------------------------------------------------------------- warehouse


def _warehouse_extras(db_url: str, base_url: str, telemetry: _Telemetry, summary: DemoSummary) -> None:
    from agentotel.warehouse.engine import create_db_engine

    engine = create_db_engine(db_url)
    try:
        for step in (_registry, _evaluations, _promotions, _alert):
            try:
                step(engine, summary)
            except ImportError as exc:
                summary.notes.append(f"{step.__name__.strip('_')} skipped: {exc}")
            except Exception as exc:  # noqa: BLE001 - one missing piece must not spoil the rest
                logger.warning("demo step %s failed: %s", step.__name__, exc)
                summary.notes.append(f"{step.__name__.strip('_')} failed: {type(exc).__name__}")
    finally:
        engine.dispose()


def _registry(engine: Any, summary: DemoSummary) -> None:
    from agentotel.registry import AgentMetadata, AgentRegistry, DuplicateVersion

    registry = AgentRegistry(engine)
    for agent in AGENTS:
        metadata = AgentMetadata(agent.name, agent.version, model_type=agent.model, provider=agent.provider,
                                 description=f"demo {agent.name}", capabilities=list(agent.tools))
        try:
            registry.register_agent(metadata, actor=ACTOR, changelog="registered by the demo")
        except DuplicateVersion:
            pass
        summary.registered.append(f"{agent.name}@{agent.version}")


TOPICS = ("order status", "refunds", "password reset", "delivery address", "invoices", "opening hours",
          "shipping costs", "returns", "gift cards", "account deletion")
CASES = tuple(
    (f"{topic.replace(' ', '-')}-{n}", f"Question {n} about {topic}?", f"{topic}: see help article {n}")
    for topic in TOPICS for n in (1, 2)
)  # 20 FAQ cases with one expected answer each


def _support_bot(version: str):
    """The demo's evaluated agent: 1.3.0 gets 8 of 20 answers wrong (a regression to find)."""
    wrong = {case_id for case_id, _, _ in CASES[::5]} | {case_id for case_id, _, _ in CASES[1::5]} if version == "1.3.0" else set()
    answers = {case_id: expected for case_id, _, expected in CASES}

    def answer(text: str, case: Any = None) -> str:
        case_id = getattr(case, "id", "")
        return "I am not sure, please contact support." if case_id in wrong else answers.get(case_id, text)

    return answer


def _evaluations(engine: Any, summary: DemoSummary) -> None:
    from agentotel.evaluation.agents import CallableAgent
    from agentotel.evaluation.benchmark import BenchmarkSuite
    from agentotel.evaluation.factory import build_evaluators
    from agentotel.evaluation.suite import suite_from_dict

    suite = suite_from_dict({"name": "support-faq", "cases": [
        {"id": case_id, "input": question, "expected": expected} for case_id, question, expected in CASES]})
    for version in ("1.2.0", "1.3.0"):
        bench = BenchmarkSuite(evaluators=build_evaluators(["accuracy"]), engine=engine, show_progress=False,
                               concurrency=2)
        run = bench.run(suite, CallableAgent(_support_bot(version), name="support-agent", version=version))
        summary.evaluation_runs.append(run.run_id)


def _promotions(engine: Any, summary: DemoSummary) -> None:
    from agentotel.registry import RegistryError, VersionManager

    versions = VersionManager(engine)
    plan = [("support-agent", "1.2.0", "dev"), ("support-agent", "1.2.0", "staging"), ("support-agent", "1.2.0", "prod"),
            ("support-agent", "1.3.0", "dev"), ("research-agent", "0.4.0", "dev"), ("sql-agent", "2.1.0", "dev")]
    for name, version, environment in plan:
        if versions.active_version(name, environment) is not None:
            continue  # a second demo run leaves the first one's deployments alone
        try:
            versions.promote(name, version, environment, actor=ACTOR, reason="demo rollout")
        except RegistryError as exc:
            summary.notes.append(f"promote {name}@{version} to {environment}: {exc}")


RULES = """
rules:
  - id: demo-high-error-rate
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 15m
    op: ">"
    value: 0.10
    for: 0s
    severity: warning
    message: "Error rate {value:.1%} on agent {agent} (over 10 %)"
"""


def _alert(engine: Any, summary: DemoSummary) -> None:
    """Evaluate a real threshold rule on the demo's traffic (sql-agent's failing tool makes it fire); if
    the spans have not reached the warehouse yet, record the alert directly."""
    from agentotel.alerting.engine import RuleEngine
    from agentotel.alerting.manager import AlertManager
    from agentotel.alerting.config import parse_rules
    from agentotel.alerting.sources import WarehouseMetricSource

    manager = AlertManager(engine)
    config = parse_rules(RULES, "demo-rules.yaml")
    deadline = time.monotonic() + 10
    while True:
        RuleEngine(engine, config, WarehouseMetricSource(engine), manager).evaluate()
        firing = [a for a in manager.get_active_alerts() if a["rule_id"] == "demo-high-error-rate"]
        if firing or time.monotonic() > deadline:
            break
        time.sleep(1)
    if not firing:
        alert_id = manager.create_alert("demo-high-error-rate", "warning", "Error rate above 10 % on agent sql-agent",
                                        labels={"agent": "sql-agent"}, value=0.2, by=ACTOR)
        firing = [manager.get_alert(alert_id)]
    summary.alerts.extend(a["id"] for a in firing)
