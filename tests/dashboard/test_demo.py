"""The demo workload end to end: our instrumentation → the real OTLP receiver → the warehouse, then
registry versions, evaluation runs and a firing alert; bounded, and safe to run twice."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from agentotel.demo import run_demo
from agentotel.demo_llm import DemoLLMServer
from agentotel.warehouse.models import AgentExecution, Alert, EvaluationRun, LLMCall, Metric, ToolCall
from agentotel.warehouse.registry_models import RegistryDeployment
from tests.conftest import free_port


def _wait_for(engine, table, minimum: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if count >= minimum or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def test_demo_fills_the_warehouse_and_runs_twice(tmp_path):
    from agentotel.core.settings import ReceiverSettings
    from agentotel.otlp_receiver.server import ReceiverServer

    url = f"sqlite:///{tmp_path}/demo.db"
    settings = ReceiverSettings(grpc_port=free_port(), http_port=free_port(), metrics_port=free_port(),
                                spool_dir=str(tmp_path / "spool"))
    server = ReceiverServer(url, settings).start()
    try:
        started = time.monotonic()
        first = run_demo(f"http://127.0.0.1:{settings.grpc_port}", url, duration_s=2.0, max_runs=40, seed=3,
                         protocol="grpc")
        assert time.monotonic() - started < 60
        assert first.runs >= 6 and first.failed_runs >= 2 and first.notes == []
        engine = server.engine
        assert _wait_for(engine, AgentExecution.__table__, first.runs) == first.runs
        with engine.connect() as conn:
            agents = set(conn.execute(select(AgentExecution.agent_name, AgentExecution.agent_version).distinct()).all())
            models = dict(conn.execute(select(LLMCall.request_model, LLMCall.provider).distinct()).all())
            failed = conn.execute(select(func.count()).where(AgentExecution.success.is_(False))).scalar_one()
            tools = conn.execute(select(func.count()).select_from(ToolCall)).scalar_one()
            host_metrics = set(conn.execute(select(Metric.metric_name).distinct()).scalars())
            runs = conn.execute(select(EvaluationRun.agent_version, EvaluationRun.status)).all()
            firing = conn.execute(select(Alert.rule_id).where(Alert.status == "firing")).scalars().all()
            deployments = conn.execute(select(func.count()).select_from(RegistryDeployment)).scalar_one()
        assert {("support-agent", "1.2.0"), ("sql-agent", "2.1.0")} <= agents
        assert models.get("claude-3-5-sonnet") == "anthropic" and models.get("gpt-4o-mini") == "openai"
        assert failed == first.failed_runs and tools == first.tool_calls
        assert {"process.cpu.utilization", "system.memory.usage"} & host_metrics
        assert sorted(runs) == [("1.2.0", "completed"), ("1.3.0", "completed")]
        assert firing and set(firing) == {"demo-high-error-rate"}
        assert deployments >= 4

        second = run_demo(f"http://127.0.0.1:{settings.http_port}", url, duration_s=1.0, max_runs=10, seed=4,
                          protocol="http/protobuf")
        assert second.notes == []
        assert _wait_for(engine, AgentExecution.__table__, first.runs + second.runs) == first.runs + second.runs
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(RegistryDeployment)).scalar_one() == deployments
            assert conn.execute(select(func.count()).select_from(EvaluationRun)).scalar_one() == 4
            again = conn.execute(select(Alert.rule_id, Alert.labels).where(Alert.status == "firing")).all()
        assert len(again) == len(firing)  # the same alert series, not a duplicate
    finally:
        server.stop()


def test_demo_llm_server_speaks_openai():
    import openai

    with DemoLLMServer() as llm:
        client = openai.OpenAI(base_url=llm.base_url, api_key="demo", max_retries=0)
        answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi there"}])
        assert answer.choices[0].message.content.startswith("Here is a concise answer")
        assert answer.usage.total_tokens > 0
        tools = [{"type": "function", "function": {"name": "run_sql", "parameters": {
            "type": "object", "properties": {"query": {"type": "string"}}}}}]
        call = client.chat.completions.create(model="claude-3-5-sonnet", tools=tools,
                                              messages=[{"role": "user", "content": "revenue"}])
        assert call.choices[0].message.tool_calls[0].function.name == "run_sql"
        try:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                                           extra_headers={"X-Demo-Fail": "429"})
        except openai.RateLimitError:
            pass
        else:
            raise AssertionError("X-Demo-Fail: 429 must fail the call")
