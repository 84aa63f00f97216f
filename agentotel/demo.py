"""The demo workload: realistic agent traffic through our own instrumentation into a running receiver.

Five agent versions (``AGENTS``): support-agent 1.2.0 and 1.3.0 and research-agent 0.4.0 on OpenAI models
through the instrumented ``openai`` client, research-agent 0.5.0 on the slow o3, and sql-agent 2.1.0 on
claude-3-5-sonnet through ``AgentTracer.trace_llm_call`` (its SQL tool fails often). Users hold multi-turn
conversations (``gen_ai.conversation.id``, ``user.id``) with them against a loopback fake LLM
(``agentotel.demo_llm``); tools fail, models rate-limit and fail. A scheduled agent, inbox-triage 1.0.0,
runs once a minute and calls a model only when a ticket came in.

``Demo`` is what ``agentotel up --demo`` runs, in three steps:

1. ``backfill()``: 7 days of history, sent as spans with past timestamps through the same OTLP exporters,
   one slot every 10 minutes of the UTC clock with a day/night rhythm, a release of each newer version and
   one incident. Every id derives from the slot, so a second run on the same warehouse sends identical
   spans and the receiver's upserts on (trace_id, span_id) keep one copy. The once-a-minute triage runs
   also make the back-filled minutes one unbroken range, which the receiver rolls up in one pass.
2. ``extras()``: registry versions, two evaluation runs (1.3.0 worse than 1.2.0) and the rollout story:
   the evaluation gate refuses support-agent 1.3.0, and research-agent 0.5.0 (the slow o3) is rolled back
   to 0.4.0 in dev. Each step is skipped when an earlier run did it.
3. ``live()``: a low, steady flow of live conversations until stopped.

``run_demo()`` is the bounded form (scripts, tests). Alerts come from the alerting service running the
rules of ``DEMO_RULES`` (``agentotel up --demo`` does that).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.id_generator import IdGenerator

from agentotel.core import semconv as sc
from agentotel.core.settings import DatabaseSettings
from agentotel.core.utc import as_utc
from agentotel.core.version import __version__
from agentotel.demo_llm import MODEL_LATENCY_S, DemoLLMServer
from agentotel.evaluation.agents import CallableAgent
from agentotel.evaluation.benchmark import BenchmarkSuite
from agentotel.evaluation.factory import build_evaluators
from agentotel.evaluation.runs import latest_completed_run
from agentotel.evaluation.suite import suite_from_dict
from agentotel.instrumentation import AgentTracer, instrument
from agentotel.instrumentation.tracer import SCOPE
from agentotel.registry import (
    AgentMetadata,
    AgentRegistry,
    DuplicateVersion,
    GateRefused,
    RegistryError,
    VersionManager,
)
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.rollups import FAMILIES, watermark

logger = logging.getLogger("agentotel.demo")

SERVICE_NAME = "agentotel-demo"
ACTOR = "demo"
DEMO_RULES = Path(__file__).resolve().with_name("demo_rules.yaml")
BACKFILL_DAYS = 7
SLOT_SECONDS = 600


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
    released_days_ago: float  # in the back-filled history, the version runs from then on
    questions: tuple[str, ...]
    follow_ups: tuple[str, ...]


SUPPORT_FOLLOW_UPS = ("Thanks. And when will it arrive?", "Can you send that to my email?",
                      "That did not work, what else can I try?", "OK, and what about my other order?")
AGENTS = (
    DemoAgent("support-agent", "1.2.0", "gpt-4o-mini", "openai", ("lookup_order", "search_kb"), 0.03, 0.02, 4, 99,
              ("Where is my order 1042?", "How do I reset my password?", "Can I change my delivery address?"),
              SUPPORT_FOLLOW_UPS),
    DemoAgent("support-agent", "1.3.0", "gpt-4o-mini", "openai", ("lookup_order", "search_kb"), 0.10, 0.05, 2, 2,
              ("Where is my order 2210?", "What is your refund policy?", "My invoice is wrong, help"),
              SUPPORT_FOLLOW_UPS),
    DemoAgent("research-agent", "0.4.0", "gpt-4o", "openai", ("web_search",), 0.05, 0.04, 2, 99,
              ("Summarise recent work on agent evaluation", "Compare vector databases for RAG"),
              ("Which of those is cheapest to run?", "Give me three sources for that.")),
    DemoAgent("research-agent", "0.5.0", "o3", "openai", ("web_search",), 0.05, 0.03, 1, 1,
              ("Survey tool-use benchmarks for LLM agents", "What changed in OTel GenAI conventions this year?"),
              ("Go deeper on the second point.", "Summarise that in five bullet points.")),
    DemoAgent("sql-agent", "2.1.0", "claude-3-5-sonnet", "anthropic", ("run_sql",), 0.30, 0.03, 2, 99,
              ("Monthly revenue by region for 2024", "Top 10 customers by order count"),
              ("Now split that by quarter.", "Only for EMEA, please.")),
)
TRIAGE = DemoAgent("inbox-triage", "1.0.0", "gpt-4o-mini", "openai", (), 0.0, 0.01, 0, 99,
                   ("Classify this ticket: 'My parcel arrived damaged'",), ())
TRIAGE_TICKET_SHARE = 0.25  # minutes in which a ticket came in (one model call to classify it)
USERS = tuple(f"user-{n:03d}" for n in (7, 12, 19, 23, 31, 42, 57, 64, 78, 85, 91, 99))
TOOL_SCHEMAS = {
    "lookup_order": {"order_id": {"type": "string"}},
    "search_kb": {"query": {"type": "string"}},
    "web_search": {"query": {"type": "string"}},
    "run_sql": {"query": {"type": "string"}},
}
INCIDENT_DAYS_AGO = 3  # sql-agent's tool fails 80 % for two hours from 13:00 UTC on that day …
ONGOING_INCIDENT = timedelta(minutes=30)  # … and again for the last half hour of history (the demo's alert)
INCIDENT_TOOL_FAILURES = 0.8


class ToolFailed(RuntimeError):
    """A demo tool failing the way real ones do (timeouts, bad SQL)."""


@dataclass
class DemoSummary:
    runs: int = 0
    failed_runs: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    history_runs: int = 0
    history_spans: int = 0
    evaluation_runs: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_demo(otlp_endpoint: str = "http://127.0.0.1:4317", db_url: str | None = None, duration_s: float = 20.0,
             max_runs: int = 300, seed: int | None = None, protocol: str | None = None,
             backfill_days: float = 0, latency_scale: float = 1.0) -> DemoSummary:
    """Back-fill ``backfill_days`` of history (0: none), add the registry and evaluation extras to the
    warehouse at ``db_url`` (skipped when None), then send live traffic for about ``duration_s`` seconds
    (at most ``max_runs`` agent runs; every agent, a failing tool and a rate-limited call come first)."""
    with Demo(otlp_endpoint, db_url, protocol=protocol, seed=seed, latency_scale=latency_scale) as demo:
        if backfill_days > 0:
            demo.backfill(days=backfill_days)
            demo.settle()
        demo.extras()
        demo.live(duration_s=duration_s, max_runs=max_runs, interval_s=0.05)
    s = demo.summary
    logger.info("demo: %d live runs (%d failed), %d LLM calls, %d tool calls; %d runs of history", s.runs,
                s.failed_runs, s.llm_calls, s.tool_calls, s.history_runs)
    return s


class Demo:
    """The demo's fake LLM server and telemetry, open between ``start()`` and ``close()`` (or ``with``).

    ``protocol`` is ``grpc`` or ``http/protobuf``; by default gRPC for port 4317, else OTLP/HTTP.
    """

    def __init__(self, otlp_endpoint: str, database: DatabaseSettings | str | None = None, *,
                 protocol: str | None = None, seed: int | None = None, latency_scale: float = 1.0) -> None:
        from urllib.parse import urlsplit


        self.endpoint = otlp_endpoint
        # the warehouse as resolved at the edge (pool, SSL, master key); a bare URL gets the defaults
        self.database = DatabaseSettings(url=database) if isinstance(database, str) else database
        self.protocol = protocol or ("grpc" if urlsplit(otlp_endpoint).port == 4317 else "http/protobuf")
        self.rng = random.Random(seed)
        self.summary = DemoSummary()
        self.llm = DemoLLMServer(latency_scale=latency_scale)
        self.telemetry: _Telemetry | None = None
        self.history_end: datetime | None = None

    def start(self) -> Demo:
        self.llm.start()
        self.telemetry = _Telemetry(self.endpoint, self.protocol)
        return self

    def interrupt(self) -> None:
        """From another thread: model calls being answered return at once, so ``live()`` ends promptly
        once its ``stop`` event is set."""
        self.llm.interrupt()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the fake LLM (answers being delayed return at once), flush and close the telemetry."""
        self.llm.stop()
        if self.telemetry is not None:
            self.telemetry.shutdown(timeout)
            self.telemetry = None

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- 1. history ------------------------------------------------------------------------------------
    def backfill(self, days: float = BACKFILL_DAYS, now: datetime | None = None,
                 stop: threading.Event | None = None) -> int:
        """Send ``days`` of history ending a minute before ``now``; returns the agent runs sent."""
        started = time.monotonic()
        now = now or datetime.now(timezone.utc)
        self.history_end = now - timedelta(minutes=1)
        history = History(_span_exporter(self.endpoint, self.protocol))
        try:
            for plan in history_plans(now - timedelta(days=days), self.history_end, now):
                if stop is not None and stop.is_set():
                    break
                history.emit(plan)
                self.summary.history_runs += 1
            history.flush()
        finally:
            history.shutdown()
        self.summary.history_spans = history.sent
        logger.info("demo: %d runs of history (%d spans) sent in %.1f s", self.summary.history_runs, history.sent,
                    time.monotonic() - started)
        return self.summary.history_runs

    def settle(self, stop: threading.Event | None = None, timeout: float = 90.0) -> bool:
        """Wait (at most ``timeout`` s) until the receiver has written the back-fill and rolled it up, so
        that the writes after it (registry, evaluations, alert state) do not queue behind that one long
        transaction; False on timeout or ``stop``."""
        if self.database is None or self.history_end is None:
            return True
        from sqlalchemy import func, select


        engine = create_db_engine(self.database.url, self.database)
        started = time.monotonic()
        deadline = started + timeout
        try:
            while True:
                with engine.connect() as conn:
                    behind = []
                    for family in FAMILIES.values():
                        newest = conn.execute(select(func.max(family.time)).where(
                            family.time <= self.history_end)).scalar()
                        mark = watermark(conn, family)
                        if newest is not None and (mark is None or mark < as_utc(newest)):
                            behind.append(family.name)
                    stored = conn.execute(select(func.count()).select_from(FAMILIES["executions"].source)).scalar()
                if not behind and stored:
                    logger.info("demo: the history was written and rolled up %.1f s after it was sent",
                                time.monotonic() - started)
                    return True
                if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                    return False
                (stop or threading.Event()).wait(0.5)
        finally:
            engine.dispose()

    # -- 2. registry, evaluations, rollout story --------------------------------------------------------
    def extras(self) -> None:
        """Registry versions, evaluation runs and the rollout story in the warehouse (when a URL is set)."""
        if self.database is None:
            return

        engine = create_db_engine(self.database.url, self.database)
        started = time.monotonic()
        try:
            for step in (_registry, _evaluations, _promotions):
                try:
                    step(engine, self.summary)
                except Exception as exc:  # noqa: BLE001 - one missing piece must not spoil the rest
                    logger.warning("demo step %s failed: %s", step.__name__.strip("_"), exc)
                    self.summary.notes.append(f"{step.__name__.strip('_')} failed: {type(exc).__name__}")
            logger.info("demo: registry, evaluations and rollout story in %.1f s", time.monotonic() - started)
        finally:
            engine.dispose()

    # -- 3. live traffic --------------------------------------------------------------------------------
    def live(self, stop: threading.Event | None = None, *, duration_s: float | None = None,
             max_runs: int = 1_000_000, interval_s: float = 5.0) -> None:
        """Conversation turns about every ``interval_s`` seconds until ``stop`` is set, ``duration_s`` has
        passed or ``max_runs`` turns ran. Every agent runs once first, then a failing tool and a
        rate-limited model call, then up to three conversations continue in turn with new ones. Once a
        minute the triage agent runs, and someone retries sql-agent, whose tool is still failing (the
        ongoing incident of the history, which keeps the demo's alert firing)."""
        import openai

        assert self.telemetry is not None, "start() first"
        stop = stop or threading.Event()
        client = openai.OpenAI(base_url=self.llm.base_url, api_key="demo-key", max_retries=0, timeout=30)
        scripted = [(agent, None) for agent in AGENTS] + [(AGENTS[4], "tool"), (AGENTS[1], "429")]
        deadline = time.monotonic() + duration_s if duration_s is not None else math.inf
        conversations: list[_Conversation] = []
        runs = 0
        next_triage = time.monotonic()
        while runs < max_runs and not stop.is_set() and (scripted or time.monotonic() < deadline):
            if time.monotonic() >= next_triage:
                next_triage += 60.0
                self._triage(client)
                retry = _Conversation.new(AGENTS[4], self.rng)
                self._run(client, retry, "tool" if self.rng.random() < INCIDENT_TOOL_FAILURES else None)
            if scripted:
                agent, forced = scripted.pop(0)
                conversation = _Conversation.new(agent, self.rng)
            else:
                forced = None
                open_ones = [c for c in conversations if c.turns_left > 0]
                if open_ones and (len(open_ones) >= 3 or self.rng.random() < 0.6):
                    conversation = self.rng.choice(open_ones)
                else:
                    conversation = _Conversation.new(self.rng.choices(AGENTS, [a.weight for a in AGENTS])[0], self.rng)
                    conversations.append(conversation)
            self._run(client, conversation, forced)
            runs += 1
            conversations = [c for c in conversations if c.turns_left > 0]
            stop.wait(self.rng.uniform(0.5, 1.5) * interval_s)

    def _run(self, client: Any, conversation: _Conversation, forced: str | None) -> None:
        try:
            self._turn(client, conversation, forced)
        except Exception as exc:  # noqa: BLE001 - failures are part of the demo; the span has them
            self.summary.failed_runs += 1
            logger.debug("demo run of %s failed: %s", conversation.agent.name, exc)
        self.summary.runs += 1

    def _triage(self, client: Any) -> None:
        """The scheduled triage run: a model call only when a ticket came in."""
        assert self.telemetry is not None
        try:
            with self.telemetry.tracer.trace_agent_call(TRIAGE.name, version=TRIAGE.version):
                if self.rng.random() < TRIAGE_TICKET_SHARE:
                    self._chat(client, TRIAGE, [{"role": "user", "content": TRIAGE.questions[0]}], None)
        except Exception as exc:  # noqa: BLE001 - the span has it
            self.summary.failed_runs += 1
            logger.debug("demo triage failed: %s", exc)
        self.summary.runs += 1

    def _turn(self, client: Any, conversation: _Conversation, forced: str | None) -> str:
        """One agent run (one turn): model → tool → model. ``forced`` = ``tool`` fails the tool, ``429``
        the first model call."""
        assert self.telemetry is not None
        tracer, agent, rng, summary = self.telemetry.tracer, conversation.agent, self.rng, self.summary
        question = conversation.next_question(rng)
        tool = rng.choice(agent.tools)
        tools = [{"type": "function", "function": {
            "name": tool, "description": f"demo tool {tool}",
            "parameters": {"type": "object", "properties": TOOL_SCHEMAS[tool], "required": list(TOOL_SCHEMAS[tool])}}}]
        messages = [*conversation.messages, {"role": "user", "content": question}]
        with tracer.trace_agent_call(agent.name, version=agent.version, conversation_id=conversation.id,
                                     attributes={"user.id": conversation.user}) as run:
            first = self._chat(client, agent, messages, tools, forced)
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
            answer = self._chat(client, agent, messages, None).choices[0].message.content or ""
            run.set_attribute(sc.OUTPUT_MESSAGES, json.dumps([{"role": "assistant", "parts": [
                {"type": "text", "content": answer}]}]))
        conversation.messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return answer

    def _chat(self, client: Any, agent: DemoAgent, messages: list, tools: list | None,
              forced: str | None = None) -> Any:
        self.summary.llm_calls += 1
        headers = {}
        if forced == "429":
            headers["X-Demo-Fail"] = "429"
        elif self.rng.random() < agent.llm_failure_rate:
            headers["X-Demo-Fail"] = self.rng.choice(["429", "500"])
        kwargs: dict[str, Any] = {"model": agent.model, "messages": messages, "extra_headers": headers}
        if tools:
            kwargs["tools"] = tools
        if agent.provider == "openai":
            return client.chat.completions.create(**kwargs)
        assert self.telemetry is not None
        with self.telemetry.tracer.trace_llm_call(agent.model, provider=agent.provider,
                                                  server_address="127.0.0.1") as scope:
            response = client.chat.completions.create(**kwargs)
            scope.record_response(response)
            return response


@dataclass
class _Conversation:
    agent: DemoAgent
    id: str
    user: str
    turns_left: int
    messages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls, agent: DemoAgent, rng: random.Random) -> _Conversation:
        system = {"role": "system", "content": f"You are {agent.name}. Use tools when they help."}
        return cls(agent, f"conv-{uuid.uuid4().hex[:12]}", rng.choice(USERS), rng.randint(1, 4), [system])

    def next_question(self, rng: random.Random) -> str:
        first = len(self.messages) <= 1
        self.turns_left -= 1
        return rng.choice(self.agent.questions if first else self.agent.follow_ups)


def _tool_result(tool: str, arguments: dict[str, Any]) -> str:
    text = " ".join(str(v) for v in arguments.values())
    return {
        "lookup_order": f"order status for '{text[:40]}': shipped, arrives in 2 days",
        "search_kb": f"3 articles match '{text[:40]}'; top: 'Account settings and security'",
        "web_search": f"5 results for '{text[:40]}'; top: survey paper (2024)",
        "run_sql": "12 rows: region, revenue (EMEA 1.2M, AMER 2.3M, APAC 0.9M)",
    }[tool]


class _Telemetry:
    """Tracer and meter providers of our own (the host's global providers are left alone)."""

    def __init__(self, endpoint: str, protocol: str) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider


        resource = Resource.create({"service.name": SERVICE_NAME, "service.version": "demo"})
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.meter_provider = MeterProvider(
            resource=resource, shutdown_on_exit=False,
            metric_readers=[PeriodicExportingMetricReader(_metric_exporter(endpoint, protocol),
                                                          export_interval_millis=5000)],
        )
        self.handle = instrument(SERVICE_NAME, endpoint, protocol=protocol, capture_content=True,
                                 tracer_provider=self.tracer_provider, meter_provider=self.meter_provider,
                                 instrumentors=["openai"], performance_monitor=True)
        self.tracer = AgentTracer(self.tracer_provider, self.meter_provider, capture_content=True)

    def shutdown(self, timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout

        def left_ms() -> int:
            return max(1, int((deadline - time.monotonic()) * 1000))

        self.handle.shutdown(timeout=max(0.1, timeout / 2))
        self.tracer_provider.force_flush(left_ms())
        self.tracer_provider.shutdown()
        self.meter_provider.force_flush(left_ms())
        self.meter_provider.shutdown(timeout_millis=left_ms())


def _metric_exporter(endpoint: str, protocol: str) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics

        return GrpcMetrics(endpoint=endpoint, insecure=True, timeout=5)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

    return HttpMetrics(endpoint=endpoint.rstrip("/") + "/v1/metrics", timeout=5)


def _span_exporter(endpoint: str, protocol: str) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        return GrpcSpans(endpoint=endpoint, insecure=True, timeout=10)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

    return HttpSpans(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=10)


# ------------------------------------------------------------------------------------------- history


@dataclass(frozen=True)
class RunPlan:
    """One back-filled agent run (a conversation turn), fully decided by its slot: ``key`` seeds its ids."""

    key: str
    agent: DemoAgent
    conversation_id: str
    user: str
    start: datetime
    tool: str
    llm_ms: tuple[float, float]
    tool_ms: float
    tokens: tuple[int, int, int, int]  # input / output of the first and second model call
    failure: str | None  # None, "tool", "429" or "500"
    shape: str = "turn"  # "turn": model → tool → model; "triage": the agent span, and a model call if "ticket"


def _slot_rate(at: datetime) -> float:
    """Conversations expected in a 10-minute slot: quiet nights, a busy working day, calmer weekends."""
    hour = at.hour + at.minute / 60
    daytime = math.exp(-((hour - 14.0) / 3.5) ** 2)
    return (0.5 + 2.5 * daytime) * (0.5 if at.weekday() >= 5 else 1.0)


def history_plans(start: datetime, end: datetime, now: datetime) -> Iterator[RunPlan]:
    """The runs of the slots between ``start`` and ``end``, in time order of their slots. A slot always
    yields the same runs (each conversation draws from its own seeded generator); ``now`` places the
    versions' releases (whole UTC days before it) and the incidents, which change which agent a run of
    the last half hour talks to and whether it fails, never its ids."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = int(start.timestamp()) // SLOT_SECONDS + 1
    last = int(end.timestamp()) // SLOT_SECONDS
    for slot in range(first, last + 1):
        slot_start = datetime.fromtimestamp(slot * SLOT_SECONDS, timezone.utc)
        rng = random.Random(f"agentotel-demo/{slot}")
        for minute in range(SLOT_SECONDS // 60):
            at = slot_start + timedelta(minutes=minute)
            triage = _triage_plan(at, rng)
            if triage.start + timedelta(seconds=30) <= end:
                yield triage
            if at >= now - ONGOING_INCIDENT and at + timedelta(seconds=50) <= end:
                yield _retry_plan(at, now)
        expected = _slot_rate(slot_start)
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        for n in range(count):
            crng = random.Random(f"agentotel-demo/{slot}/{n}")
            incident = _in_incident(slot_start, now)
            agent = _history_agent(crng, (today - slot_start).total_seconds() / 86400, incident)
            conversation = f"conv-{_digest(f'{slot}/{n}')[:12]}"
            user = crng.choice(USERS)
            at = slot_start + timedelta(seconds=crng.uniform(0, SLOT_SECONDS - 60))
            for turn in range(crng.randint(1, 4)):
                plan = _plan(f"{slot}/{n}/{turn}", agent, conversation, user, at, crng, now)
                if plan.start + timedelta(seconds=30) > end:
                    break
                yield plan
                at = plan.start + timedelta(seconds=crng.uniform(20, 120))


def _retry_plan(minute: datetime, now: datetime) -> RunPlan:
    """During the ongoing incident, someone asks sql-agent again every minute (and mostly fails)."""
    key = f"retry/{int(minute.timestamp())}"
    rng = random.Random(f"agentotel-demo/{key}")
    conversation = f"conv-{_digest(key)[:12]}"
    return _plan(key, AGENTS[4], conversation, rng.choice(USERS), minute + timedelta(seconds=rng.uniform(1, 30)), rng,
                 now)


def _triage_plan(minute: datetime, rng: random.Random) -> RunPlan:
    ticket = rng.random() < TRIAGE_TICKET_SHARE
    prompt = rng.randint(40, 120)
    return RunPlan(f"triage/{int(minute.timestamp())}", TRIAGE, "", "", minute + timedelta(seconds=rng.uniform(1, 40)),
                   "", (rng.uniform(150, 450), 0.0), 0.0, (prompt, rng.randint(2, 6), 0, 0), None,
                   "ticket" if ticket else "triage")


def _history_agent(rng: random.Random, days_before_today: float, incident: bool) -> DemoAgent:
    """The agent version a conversation talks to: a newer version takes part of its agent's traffic from
    the UTC midnight ``released_days_ago`` days before today on; during the incident, users keep asking
    sql-agent again."""
    live = [a for a in AGENTS if a.released_days_ago >= days_before_today]
    return rng.choices(live, [a.weight * (4 if incident and a.name == "sql-agent" else 1) for a in live])[0]


def _in_incident(at: datetime, now: datetime) -> bool:
    """Whether sql-agent's tool is failing at ``at``: two hours three days ago, and the last half hour."""
    start = now.replace(hour=13, minute=0, second=0, microsecond=0) - timedelta(days=INCIDENT_DAYS_AGO)
    return start <= at < start + timedelta(hours=2) or at >= now - ONGOING_INCIDENT


def _plan(key: str, agent: DemoAgent, conversation: str, user: str, at: datetime, rng: random.Random,
          now: datetime) -> RunPlan:
    """One turn; it draws the same number of values whatever it decides, so later turns do not shift."""

    low, high = MODEL_LATENCY_S.get(agent.model, (0.1, 0.3))
    llm_ms = (rng.uniform(low, high) * 1000, rng.uniform(low, high) * 1000)
    in_incident = agent.name == "sql-agent" and _in_incident(at, now)
    roll, model_error = rng.random(), rng.choice(("429", "500"))
    failure = None
    if roll < agent.llm_failure_rate:
        failure = model_error
    elif roll < agent.llm_failure_rate + (INCIDENT_TOOL_FAILURES if in_incident else agent.tool_failure_rate):
        failure = "tool"
    prompt = rng.randint(60, 400)
    tokens = (prompt, rng.randint(10, 20), prompt + rng.randint(30, 80), rng.randint(40, 300))
    return RunPlan(key, agent, conversation, user, at, rng.choice(agent.tools), llm_ms, rng.uniform(5, 400), tokens,
                   failure)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class _SlotIds(IdGenerator):
    """An OTel id generator whose ids follow from a key (``reseed``): re-sending a run re-sends its ids."""

    def __init__(self) -> None:
        self.key, self.count = "", 0

    def reseed(self, key: str) -> None:
        self.key, self.count = key, 0

    def _next(self, size: int) -> int:
        self.count += 1
        digest = hashlib.blake2b(f"agentotel-demo/{self.key}/{self.count}".encode(), digest_size=size).digest()
        return int.from_bytes(digest, "big") or 1

    def generate_trace_id(self) -> int:
        return self._next(16)

    def generate_span_id(self) -> int:
        return self._next(8)

    def is_trace_id_random(self) -> bool:
        return False


class History:
    """Builds the spans of run plans with our semconv attributes and explicit timestamps and hands them to
    ``exporter`` (the SDK's OTLP exporter) in batches, synchronously: nothing is dropped, as a full batch
    queue would."""

    BATCH = 512

    def __init__(self, exporter: Any) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider


        spans: list[Any] = []

        class Collect(SpanProcessor):
            def on_end(self, span: Any) -> None:
                spans.append(span)

        self.ids = _SlotIds()
        self.spans = spans
        self.sent = 0
        self.exporter = exporter
        self.provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME, "service.version": "demo"}),
                                       id_generator=self.ids, shutdown_on_exit=False)
        self.provider.add_span_processor(Collect())
        self.tracer = self.provider.get_tracer(SCOPE, __version__)

    def emit(self, plan: RunPlan) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode


        self.ids.reseed(plan.key)
        agent = plan.agent
        t = int(plan.start.timestamp() * 1e9)
        attributes: dict[str, Any] = {sc.OPERATION: sc.OP_INVOKE_AGENT, sc.AGENT_NAME: agent.name,
                                      sc.AGENT_VERSION: agent.version}
        if plan.shape == "turn":
            attributes |= {sc.CONVERSATION_ID: plan.conversation_id, "user.id": plan.user}
        root = self.tracer.start_span(f"invoke_agent {agent.name}", kind=SpanKind.INTERNAL, start_time=t,
                                      attributes=attributes)
        context = trace.set_span_in_context(root)
        t += 2_000_000
        error = None
        steps = {"turn": ("first", "tool", "second"), "ticket": ("first",), "triage": ()}[plan.shape]
        for step in steps:
            if step == "tool":
                end = t + int(plan.tool_ms * 1e6)
                span = self.tracer.start_span(f"execute_tool {plan.tool}", context, SpanKind.INTERNAL, start_time=t,
                                              attributes={sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_NAME: plan.tool,
                                                          sc.TOOL_TYPE: "function",
                                                          sc.TOOL_CALL_ID: f"call_{_digest(plan.key)[:8]}"})
                if plan.failure == "tool":
                    error = ("ToolFailed", f"{plan.tool} timed out")
            else:
                n = 0 if step == "first" else 1
                end = t + int(plan.llm_ms[n] * 1e6)
                attributes = {sc.OPERATION: sc.OP_CHAT, sc.PROVIDER: agent.provider,
                              sc.REQUEST_MODEL: agent.model, sc.SERVER_ADDRESS: "127.0.0.1"}
                if n == 0 and plan.failure in ("429", "500"):
                    error = ("RateLimitError", "demo failure 429") if plan.failure == "429" else (
                        "InternalServerError", "demo failure 500")
                else:
                    attributes |= {sc.RESPONSE_MODEL: agent.model, sc.USAGE_INPUT: plan.tokens[2 * n],
                                   sc.USAGE_OUTPUT: plan.tokens[2 * n + 1],
                                   sc.RESPONSE_FINISH_REASONS: ["tool_calls" if len(steps) > 1 and n == 0 else "stop"]}
                span = self.tracer.start_span(f"chat {agent.model}", context, SpanKind.CLIENT, start_time=t,
                                              attributes=attributes)
            if error:
                span.set_attribute(sc.ERROR_TYPE, error[0])
                span.set_status(Status(StatusCode.ERROR, error[1]))
            span.end(end_time=end)
            t = end + 1_000_000
            if error:
                break
        if error:
            root.set_attribute(sc.ERROR_TYPE, error[0])
            root.set_status(Status(StatusCode.ERROR, error[1]))
        root.end(end_time=t + (30_000_000 if plan.shape == "triage" else 0))
        if len(self.spans) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        batch, self.spans[:] = list(self.spans), []
        if batch:
            if self.exporter.export(batch) != SpanExportResult.SUCCESS:
                raise RuntimeError(f"the receiver did not take {len(batch)} back-filled spans")
            self.sent += len(batch)

    def shutdown(self) -> None:
        self.provider.shutdown()
        self.exporter.shutdown()


# ---------------------------------------------------------------------------------------------- warehouse


def _registry(engine: Any, summary: DemoSummary) -> None:

    registry = AgentRegistry(engine)
    for agent in (*AGENTS, TRIAGE):
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
    """An evaluation run of support-agent 1.2.0 and 1.3.0 on a 20-case FAQ suite (unless one exists)."""

    suite = suite_from_dict({"name": "support-faq", "cases": [
        {"id": case_id, "input": question, "expected": expected} for case_id, question, expected in CASES]})
    for version in ("1.2.0", "1.3.0"):
        existing = latest_completed_run(engine, "support-agent", version)
        if existing is not None:
            summary.evaluation_runs.append(str(existing))
            continue
        bench = BenchmarkSuite(evaluators=build_evaluators(["accuracy"]), engine=engine, show_progress=False,
                               concurrency=2)
        run = bench.run(suite, CallableAgent(_support_bot(version), name="support-agent", version=version))
        summary.evaluation_runs.append(run.run_id)


ROLLOUT = (("support-agent", "1.2.0", "dev"), ("support-agent", "1.2.0", "staging"), ("support-agent", "1.2.0", "prod"),
           ("research-agent", "0.4.0", "dev"), ("sql-agent", "2.1.0", "dev"), ("inbox-triage", "1.0.0", "dev"),
           ("support-agent", "1.3.0", "dev"), ("research-agent", "0.5.0", "dev"))


def _promotions(engine: Any, summary: DemoSummary) -> None:
    """The rollout story, with the registry's default gate: versions move through dev → staging → prod;
    support-agent 1.3.0, worse on the evaluation, is refused by the gate (for staging, or for prod where
    staging lets it in); research-agent 0.5.0 on the slow o3 is rolled back to 0.4.0 in dev. A step an
    earlier run did is skipped, so the history tells the story once."""

    versions = VersionManager(engine)
    for name, version, environment in ROLLOUT:
        if any(d.version == version for d in versions.deployments(name, environment)):
            continue
        try:
            versions.promote(name, version, environment, actor=ACTOR, reason="demo rollout")
        except RegistryError as exc:
            summary.notes.append(f"promote {name}@{version} to {environment}: {exc}")
    refused = [e for e in versions.audit_log("support-agent", limit=None)
               if e.outcome == "refused" and e.agent_version == "1.3.0"]
    if refused:
        summary.refused.append(f"support-agent@1.3.0 to {refused[0].environment}")
    else:
        for environment in ("staging", "prod"):
            try:
                versions.promote("support-agent", "1.3.0", environment, actor=ACTOR, reason="demo rollout")
            except GateRefused as exc:
                summary.refused.append(f"support-agent@1.3.0 to {environment}: {exc.decision.summary()}")
                break
            except RegistryError as exc:
                summary.notes.append(f"promote support-agent@1.3.0 to {environment}: {exc}")
                break
        else:
            summary.notes.append("the gate let support-agent 1.3.0 into prod")
    if any(d.action == "rollback" for d in versions.deployments("research-agent", "dev")):
        summary.rolled_back.append("research-agent dev")
    elif versions.active_version("research-agent", "dev") == "0.5.0":
        versions.rollback("research-agent", "dev", actor=ACTOR,
                          reason="0.5.0 on o3 answers four times slower (p95); back to 0.4.0")
        summary.rolled_back.append("research-agent dev → 0.4.0")
