"""The demo workload: its back-filled history (deterministic, 7 days with a shape, every minute covered),
the spans that history becomes (the same ids every time), the fake LLM, and the whole demo end to end
through our instrumentation → the real OTLP receiver → the warehouse → the demo's alert rules, twice."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sqlalchemy import func, select

from agentotel.demo import DEMO_RULES, TRIAGE, History, history_plans, run_demo
from agentotel.demo_llm import DemoLLMServer
from tests.support.polling import wait_for
from tests.support.receiver import start_receiver

NOW = datetime(2026, 11, 18, 15, 7, 30, tzinfo=timezone.utc)  # a Wednesday afternoon


def week(now: datetime = NOW):
    return list(history_plans(now - timedelta(days=7), now - timedelta(minutes=1), now))


def test_history_has_seven_days_with_a_shape_and_every_minute_covered():
    plans = week()
    days = Counter((NOW - p.start).days for p in plans if p.agent is not TRIAGE)
    assert sorted(days) == list(range(7)) and min(days.values()) >= 50
    hours = Counter(p.start.hour for p in plans if p.agent is not TRIAGE)
    assert hours[14] > 3 * hours[2]  # busy afternoons, quiet nights
    minutes = {int(p.start.timestamp()) // 60 for p in plans}
    first, last = min(minutes), max(minutes)
    assert (last - first) >= 7 * 24 * 60 - 15 and len(minutes) == last - first + 1  # one unbroken range
    assert NOW - timedelta(hours=1) < max(p.start for p in plans) < NOW  # "Last hour" has history too

    turns = [p for p in plans if p.shape == "turn"]
    conversations = Counter(p.conversation_id for p in turns)
    assert max(conversations.values()) >= 3 and len({p.user for p in turns}) >= 10
    assert {"tool", "429", "500"} <= {p.failure for p in turns}
    released: dict[tuple[str, str], datetime] = {}
    for plan in sorted(turns, key=lambda p: p.start):
        released.setdefault((plan.agent.name, plan.agent.version), plan.start)
    assert NOW - released[("support-agent", "1.3.0")] <= timedelta(days=3)  # released two midnights ago
    assert NOW - released[("support-agent", "1.2.0")] >= timedelta(days=6, hours=23)
    slow = [p.llm_ms[0] for p in turns if p.agent.model == "o3"]
    fast = [p.llm_ms[0] for p in turns if p.agent.model == "gpt-4o-mini"]
    assert slow and min(slow) > 4 * max(fast) / 1.5  # the slow model is slow
    incident = [p for p in turns if p.agent.name == "sql-agent" and (NOW - p.start).days == 3 and p.start.hour in (13, 14)]
    assert len(incident) >= 10 and sum(p.failure == "tool" for p in incident) / len(incident) > 0.5


def test_history_is_the_same_whenever_it_is_sent():
    later = NOW + timedelta(minutes=47)
    first = {p.key: (p.start, p.agent, p.failure) for p in week()}
    second = {p.key: (p.start, p.agent, p.failure) for p in week(later)}
    overlap = set(first) & set(second)
    assert len(overlap) > 0.98 * len(first)
    settled = [k for k in overlap if first[k][0] < NOW - timedelta(hours=1)]  # before the ongoing incident
    assert len(settled) > 0.97 * len(first) and all(first[k] == second[k] for k in settled)
    ongoing = [p for p in week() if p.agent.name == "sql-agent" and p.start > NOW - timedelta(minutes=30)]
    assert len(ongoing) >= 3 and sum(p.failure == "tool" for p in ongoing) / len(ongoing) > 0.4


def test_history_spans_carry_stable_ids_and_genai_attributes():
    plans = [p for p in week() if p.start > NOW - timedelta(hours=6)]
    exported = []
    for _ in range(2):
        exporter = InMemorySpanExporter()
        history = History(exporter)
        for plan in plans:
            history.emit(plan)
        history.flush()
        history.shutdown()
        exported.append(exporter.get_finished_spans())
    ids = [{(s.context.trace_id, s.context.span_id) for s in spans} for spans in exported]
    assert ids[0] == ids[1] and len(ids[0]) == len(exported[0]) > len(plans)
    agents = [s for s in exported[0] if s.attributes.get("gen_ai.operation.name") == "invoke_agent"]
    assert len(agents) == len(plans) == len({s.context.trace_id for s in exported[0]})
    turns = [s for s in agents if s.attributes.get("gen_ai.agent.name") != TRIAGE.name]
    assert all(s.attributes.get("gen_ai.conversation.id") and s.attributes.get("user.id") for s in turns)
    failed_tools = [s for s in exported[0] if s.name.startswith("execute_tool") and s.status.status_code == StatusCode.ERROR]
    assert failed_tools and all(s.attributes.get("error.type") == "ToolFailed" for s in failed_tools)
    assert all(NOW - timedelta(hours=7) < datetime.fromtimestamp(s.start_time / 1e9, timezone.utc) < NOW
               for s in exported[0])


def test_demo_llm_server_speaks_openai_and_stops_at_once():
    import openai

    with DemoLLMServer(latency_scale=0.05) as llm:
        client = openai.OpenAI(base_url=llm.base_url, api_key="demo", max_retries=0)
        answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi there"}])
        assert answer.choices[0].message.content.startswith("Here is a concise answer")
        assert answer.usage.total_tokens > 0
        tools = [{"type": "function", "function": {"name": "run_sql", "parameters": {
            "type": "object", "properties": {"query": {"type": "string"}}}}}]
        call = client.chat.completions.create(model="claude-3-5-sonnet", tools=tools,
                                              messages=[{"role": "user", "content": "revenue"}])
        assert call.choices[0].message.tool_calls[0].function.name == "run_sql"
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                                           extra_headers={"X-Demo-Fail": "429"})
    with DemoLLMServer(latency_scale=100) as slow:  # o3 would answer in minutes: stop() cuts it short
        client = openai.OpenAI(base_url=slow.base_url, api_key="demo", max_retries=0, timeout=30)
        errors: list[Exception] = []

        def ask() -> None:
            try:
                client.chat.completions.create(model="o3", messages=[{"role": "user", "content": "think"}])
            except Exception as exc:  # noqa: BLE001 - the answer to a stopped server
                errors.append(exc)

        caller = threading.Thread(target=ask)
        caller.start()
        assert wait_for(lambda: slow.received > 0, timeout=10, interval=0.01)  # the request is being delayed
        started = time.monotonic()
        slow.interrupt()
        caller.join(5)
        assert not caller.is_alive() and time.monotonic() - started < 2
        assert isinstance(errors[0], openai.InternalServerError)


@pytest.mark.slow
def test_demo_end_to_end_twice_with_its_alert_rules(tmp_path, caplog):
    from agentotel.alerting.channels.log import ALERT_LOGGER
    from agentotel.alerting.config import load_rules
    from agentotel.alerting.service import AlertingService
    from agentotel.registry.queries import deployments
    from agentotel.warehouse.alerting_models import AlertNotification
    from agentotel.warehouse.models import AgentExecution, EvaluationRun, LLMCall, Span

    url = f"sqlite:///{tmp_path}/demo.db"
    server = start_receiver(url, str(tmp_path / "spool"))
    settings = server.settings
    try:
        first = run_demo(f"http://127.0.0.1:{settings.grpc_port}", url, duration_s=2.0, max_runs=40, seed=3,
                         protocol="grpc", backfill_days=1, latency_scale=0.05)
        assert first.notes == [] and first.history_runs > 1000 and first.runs >= 8 and first.failed_runs >= 2
        assert first.refused and first.rolled_back and len(first.evaluation_runs) == 2
        engine = server.engine
        config = load_rules(DEMO_RULES)
        service = AlertingService(engine, config)

        def delivered_channels() -> list[str]:
            service.tick()
            with engine.connect() as conn:
                return conn.execute(select(AlertNotification.channel).where(
                    AlertNotification.status == "delivered")).scalars().all()

        with caplog.at_level(logging.WARNING, logger=ALERT_LOGGER):
            delivered = wait_for(delivered_channels, timeout=60, interval=1)  # the rule's `for: 10s`, then the log channel delivers
        assert delivered and set(delivered) == {"console"}
        assert any("[FIRING] warning: sql-agent-errors sql-agent fails" in r.getMessage() for r in caplog.records)

        with engine.connect() as conn:
            agents = set(conn.execute(select(AgentExecution.agent_name, AgentExecution.agent_version).distinct()).all())
            models = dict(conn.execute(select(LLMCall.request_model, LLMCall.provider).distinct()).all())
            spans = conn.execute(select(func.count()).select_from(Span)).scalar_one()
            oldest = conn.execute(select(func.min(AgentExecution.timestamp))).scalar_one()
        assert {("support-agent", "1.3.0"), ("research-agent", "0.5.0"), ("inbox-triage", "1.0.0")} <= agents
        assert models.get("claude-3-5-sonnet") == "anthropic" and models.get("o3") == "openai"
        assert oldest.replace(tzinfo=timezone.utc) < datetime.now(timezone.utc) - timedelta(hours=23)
        history = [d.action for d in deployments(engine, "research-agent", "dev")]
        assert history.count("rollback") == 1

        second = run_demo(f"http://127.0.0.1:{settings.http_port}", url, duration_s=1.0, max_runs=10, seed=4,
                          protocol="http/protobuf", backfill_days=1, latency_scale=0.05)
        assert second.notes == []  # its day of history is the first's slid by the minutes between (may be fewer runs)
        with engine.connect() as conn:
            again = conn.execute(select(func.count()).select_from(Span)).scalar_one()
            runs = conn.execute(select(func.count()).select_from(EvaluationRun)).scalar_one()
        new_minutes = abs(second.history_runs - first.history_runs)  # about the minutes that slid in between runs
        assert again - spans <= second.history_spans - first.history_spans + 40 * (new_minutes + second.runs)
        assert again - spans < first.history_spans / 10  # the day of history was not sent a second time
        assert runs == 2 and [d.action for d in deployments(engine, "research-agent", "dev")] == history
    finally:
        server.stop()
