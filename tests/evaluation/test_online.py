"""Online evaluation on SQLite and PostgreSQL: a sampled share of production executions is scored once,
resumes after a restart, shares work between evaluators, and scores what a running receiver stores within
60 seconds of its arrival."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import func, insert, select

from agentotel.core.settings import EvaluationSettings
from agentotel.core.utc import utcnow
from agentotel.evaluation.online import (
    ONLINE_CONFIG_FORMAT,
    OnlineAgentConfig,
    OnlineConfig,
    OnlineConfigError,
    OnlineEvaluator,
    load_online_config,
    online_config_from_dict,
    online_samples,
    online_score_series,
    online_status,
    sampled,
    start_online_evaluation,
)
from agentotel.warehouse.evaluation_models import EvaluationResultRecord, OnlineClaim
from agentotel.warehouse.models import AgentExecution
from tests.support.polling import wait_for

EVERY = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=1.0, evaluators=("coherence", "toxicity")),))


def executions(engine, n: int, first: int = 0, agent: str = "support-agent", version: str = "1.0.0",
               ago: timedelta = timedelta(seconds=30), **overrides) -> list[str]:
    """``n`` finished executions as the receiver writes them (content captured as semconv messages)."""
    now = utcnow()
    rows = []
    for i in range(first, first + n):
        question = [{"role": "user", "parts": [{"type": "text", "content": f"How do I reset my password? ({i})"}]}]
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": "Open settings and choose reset password."}]}]
        rows.append({
            "id": f"{i:032x}-{i:016x}", "trace_id": f"{i:032x}", "span_id": f"{i:016x}", "agent_name": agent,
            "agent_version": version, "timestamp": now - ago, "end_time": now - ago + timedelta(seconds=1),
            "input": json.dumps(question), "output": json.dumps(answer), "duration_ms": 1000.0, "success": True,
            **overrides,
        })
    with engine.begin() as conn:
        conn.execute(insert(AgentExecution), rows)
    return [r["id"] for r in rows]


def count(engine, model, **where) -> int:
    query = select(func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def test_each_sampled_execution_is_scored_once(engine):
    ids = executions(engine, 12)
    evaluator = OnlineEvaluator(engine, EVERY)
    stats = evaluator.tick()
    assert (stats.candidates, stats.scored, stats.skipped, stats.scores) == (12, 12, 0, 24)
    assert count(engine, EvaluationResultRecord) == 24
    with engine.connect() as conn:
        row = conn.execute(select(EvaluationResultRecord).where(EvaluationResultRecord.execution_id == ids[0],
                                                                 EvaluationResultRecord.name == "coherence")).one()
    assert (row.trace_id, row.span_id, row.agent_name, row.agent_version, row.source) == (
        f"{0:032x}", f"{0:016x}", "support-agent", "1.0.0", "online")
    assert row.score_value == pytest.approx(1.0) and row.score_label == "pass" and row.evaluator == "coherence"

    assert evaluator.tick().candidates == 0  # nothing new: nothing scored again
    restarted = OnlineEvaluator(engine, EVERY)  # a restart: another worker, the same tables
    assert restarted.tick().scored == 0
    executions(engine, 3, first=100)
    assert restarted.tick().scored == 3  # resumes with what arrived meanwhile
    assert count(engine, EvaluationResultRecord) == 30
    status = online_status(engine)
    assert status.claims == {"scored": 15} and status.scores == 30 and "default" in status.watermarks


def test_sampling_is_deterministic_and_per_agent(engine):
    executions(engine, 200, agent="support-agent")
    executions(engine, 20, first=1000, agent="sql-agent")
    executions(engine, 5, first=2000, agent="support-agent", version="0.9.0")
    config = OnlineConfig(agents=(
        OnlineAgentConfig("support-agent", ("coherence",), sample_rate=0.25, versions=("1.0.0",)),
        OnlineAgentConfig("*", ("toxicity",), sample_rate=0.0),
    ), batch_size=1000)
    stats = OnlineEvaluator(engine, config).tick()
    chosen = count(engine, OnlineClaim, sampled=True)
    assert stats.scored == chosen and 30 <= chosen <= 70, chosen  # about a quarter of 200
    assert count(engine, OnlineClaim, status="skipped") == 225 - chosen
    assert count(engine, EvaluationResultRecord, name="toxicity") == 0
    assert count(engine, EvaluationResultRecord, agent_version="0.9.0") == 0  # version not configured
    assert [sampled(f"x{i}", 0.25) for i in range(50)] == [sampled(f"x{i}", 0.25) for i in range(50)]


def test_skips_say_why(engine):
    failed = executions(engine, 1, success=False, error_message="boom")
    blank = executions(engine, 1, first=10, output=None)
    OnlineEvaluator(engine, EVERY).tick()
    with engine.connect() as conn:
        details = dict(conn.execute(select(OnlineClaim.execution_id, OnlineClaim.detail)).all())
    assert details[failed[0]] == "failed execution"
    assert details[blank[0]].startswith("no captured output")


def test_two_evaluators_share_the_work_without_scoring_twice(engine):
    executions(engine, 60)
    config = dataclasses.replace(EVERY, batch_size=20)
    evaluators = [OnlineEvaluator(engine, config) for _ in range(2)]
    errors = []

    def work(evaluator):
        try:
            for _ in range(5):
                evaluator.tick()
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e,)) for e in evaluators]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert count(engine, EvaluationResultRecord) == 120 and count(engine, OnlineClaim, status="scored") == 60


def test_a_claim_left_by_a_dead_worker_is_taken_over_once(engine):
    [orphan, done] = executions(engine, 2)
    long_ago = utcnow() - timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(insert(OnlineClaim), [
            {"execution_id": orphan, "agent_name": "support-agent", "agent_version": "1.0.0", "execution_time": long_ago,
             "sampled": True, "status": "claimed", "worker": "dead-1", "claimed_at": long_ago},
            {"execution_id": done, "agent_name": "support-agent", "agent_version": "1.0.0", "execution_time": long_ago,
             "sampled": True, "status": "claimed", "worker": "dead-1", "claimed_at": long_ago},
        ])
        conn.execute(insert(EvaluationResultRecord), [  # scored before the worker died
            {"execution_id": done, "trace_id": "t", "span_id": "s", "execution_time": long_ago, "evaluated_at": long_ago,
             "name": "coherence", "score_value": 0.5, "evaluator": "coherence", "source": "online"}])
    stats = OnlineEvaluator(engine, EVERY).tick()
    assert stats.taken_over == 2 and stats.scored == 1
    assert count(engine, OnlineClaim, status="scored") == 2
    assert count(engine, EvaluationResultRecord, execution_id=done) == 1  # not scored again
    assert count(engine, EvaluationResultRecord, execution_id=orphan) == 2


def test_reads_for_the_dashboard_and_the_gate(engine):
    executions(engine, 10, version="1.0.0")
    executions(engine, 10, first=50, version="1.1.0", output=json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "Reset. Reset. Reset. Reset. Reset. Reset."}]}]))
    OnlineEvaluator(engine, EVERY).tick()
    series = online_score_series(engine, "support-agent", bucket=timedelta(hours=1))
    by_version = {(r["agent_version"], r["metric"]): r for r in series}
    assert by_version[("1.0.0", "coherence")]["n"] == 10 and by_version[("1.0.0", "coherence")]["mean"] == 1.0
    assert by_version[("1.1.0", "coherence")]["median"] < 0.5  # repetition
    samples = online_samples(engine, "support-agent", "1.1.0", ["coherence"])
    assert samples.metrics["coherence"].values.size == 10


def test_configuration_files(tmp_path):
    config = online_config_from_dict(yaml.safe_load(ONLINE_CONFIG_FORMAT))
    assert config.interval == 10 and config.lookback == timedelta(minutes=15)
    support = config.for_agent("support-agent")
    assert support.sample_rate == 0.5 and support.versions == ("1.3.0",) and support.evaluators[2]["name"] == "judge"
    assert config.for_agent("anyone").sample_rate == 0.1
    path = tmp_path / "online.yaml"
    path.write_text("agents:\n  bot: {sample_rate: 2}\n")
    with pytest.raises(OnlineConfigError, match=r"agents.bot: agent 'bot': sample_rate must be in \[0, 1\], got 2.0"):
        load_online_config(path)
    path.write_text("agent: {}\n")
    with pytest.raises(OnlineConfigError, match="unknown field"):
        load_online_config(path)
    with pytest.raises(OnlineConfigError, match="unknown evaluator 'nope'"):
        OnlineEvaluator(None, OnlineConfig(agents=(OnlineAgentConfig(evaluators=("nope",)),)))  # type: ignore[arg-type]


def test_scores_a_new_execution_within_60_s_of_its_arrival(receiver, capsys):
    """The real path: an agent span from the OTel SDK → the receiver → agent_executions → the online
    evaluator's background loop (as ``agentotel up`` starts it) → evaluation_results."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    engine = receiver.engine
    config = dataclasses.replace(EVERY, interval=1.0, settle=1.0)
    online = start_online_evaluation(engine, EvaluationSettings(), config)
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "support"}))
        provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.settings.grpc_port}", insecure=True, timeout=10)))
        tracer = provider.get_tracer("tests.online")
        question = [{"role": "user", "parts": [{"type": "text", "content": "How do I reset my password?"}]}]
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": "Open settings and choose reset."}]}]
        with tracer.start_as_current_span("invoke_agent support-agent", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-agent",
            "gen_ai.agent.version": "1.3.0", "gen_ai.input.messages": json.dumps(question),
            "gen_ai.output.messages": json.dumps(answer)}):  # fmt: skip
            pass
        provider.shutdown()  # exported (acknowledged by the receiver) when this returns
        sent = time.monotonic()
        wait_for(lambda: count(engine, EvaluationResultRecord) >= 2, timeout=60, interval=0.2)
        delay = time.monotonic() - sent
        with capsys.disabled():
            print(f"\nonline evaluation: scored {delay:.1f} s after the receiver acknowledged the execution")
        assert count(engine, EvaluationResultRecord) == 2, "not scored within 60 s"
        with engine.connect() as conn:
            rows = conn.execute(select(EvaluationResultRecord.name, EvaluationResultRecord.agent_version,
                                       EvaluationResultRecord.score_value)).all()
        assert {(n, v) for n, v, _ in rows} == {("coherence", "1.3.0"), ("toxicity", "1.3.0")}
    finally:
        online.stop()
    assert not online.thread.is_alive()


@pytest.mark.slow  # the first use of the OpenAI client imports it: 3-5 s on the loaded 2-core machine
def test_an_llm_judge_scores_production_executions(engine):
    """The documented configuration (an LLM judge's faithfulness beside heuristics) builds, and the judge
    scores sampled executions through an OpenAI-compatible endpoint (before: 'no built-in rubric for
    faithfulness', the example config could not start)."""
    from tests.support.fake_openai import FakeLLMServer, last_user_text

    OnlineEvaluator(None, online_config_from_dict(yaml.safe_load(ONLINE_CONFIG_FORMAT)))  # type: ignore[arg-type]

    def judge(body):
        prompt = last_user_text(body)
        return json.dumps({"score": 5 if "reset password" in prompt else 1, "explanation": "as asked"})

    executions(engine, 4)
    with FakeLLMServer(responder=judge) as server:
        config = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=1.0, evaluators=(
            {"name": "judge", "metric": "faithfulness", "model": "judge-model"},)),))
        settings = EvaluationSettings(openai_api_key="test", judge_base_url=server.base_url)
        stats = OnlineEvaluator(engine, config, settings).tick()
        assert (stats.scored, stats.scores) == (4, 4)
        assert {body["model"] for body in server.bodies} == {"judge-model"} and len(server.bodies) == 4
    with engine.connect() as conn:
        rows = conn.execute(select(EvaluationResultRecord.name, EvaluationResultRecord.score_value,
                                   EvaluationResultRecord.source)).all()
    assert set(rows) == {("judge.faithfulness", 1.0, "online")}
