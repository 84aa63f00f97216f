"""Issue 20 point 1, agents and environments per project (revision tenancy_0003), on SQLite and PostgreSQL:
the receiver's span writer keeps one ``agents`` row per (project, name, version) and links each run to its own
project's row; the same version registers and promotes in two projects independently."""

from __future__ import annotations

import json

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from agentotel.cli import main
from agentotel.core.settings import ReceiverSettings
from agentotel.otlp_receiver.codec import TRACES
from agentotel.otlp_receiver.ingest import build_request_writer
from agentotel.otlp_receiver.tenancy import stamp_project
from agentotel.warehouse.models import Agent, AgentExecution
from agentotel.warehouse.registry_models import RegistryEnvironment
from agentotel.warehouse.scoping import open_scoped_warehouse
from tests.support.projects import make_projects


def agent_run(agent: str, version: str):
    """One OTLP trace request: an agent span of ``agent``@``version`` with a chat span inside."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.project_agents")
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.agent.version": version}
    with tracer.start_as_current_span(f"invoke_agent {agent}", attributes=attributes):
        with tracer.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat",
                                                                "gen_ai.request.model": "m"}):  # fmt: skip
            pass
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def test_the_same_agent_version_in_two_projects_is_two_agents(db_url, engine):
    writer = build_request_writer(engine, ReceiverSettings())
    for project in ("alpha", "beta", "alpha", "beta"):  # the writer's agent id cache is per project too
        request = agent_run("planner", "1.0")
        stamp_project(request, "traces", project)
        writer.write([(TRACES, request)])
    with engine.connect() as conn:
        agents = {r.id: (r.project_id, r.name, r.version) for r in conn.execute(
            select(Agent.id, Agent.project_id, Agent.name, Agent.version))}  # fmt: skip
        runs = conn.execute(select(AgentExecution.project_id, AgentExecution.agent_id)).all()
    assert sorted(agents.values()) == [("alpha", "planner", "1.0"), ("beta", "planner", "1.0")]
    assert len(runs) == 4
    assert all(agents[agent_id][0] == project for project, agent_id in runs)  # each run: its project's agent

    beta = open_scoped_warehouse(db_url, ["beta"])
    try:
        with beta.connect() as conn:
            assert conn.execute(select(Agent.project_id, Agent.name)).all() == [("beta", "planner")]
    finally:
        beta.dispose()


@pytest.fixture
def cli(db_url, capsys):
    """``agentotel registry ARGS --db URL --project P`` → (exit status, stdout, stderr)."""

    def run(*args: str, project: str) -> tuple[int, str, str]:
        status = main(["registry", "--db", db_url, *args, "--project", project])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.mark.slow
def test_a_version_registers_and_promotes_in_each_project(cli, engine):
    make_projects(engine, "alpha", "beta")
    for project in ("alpha", "beta"):
        status, _, err = cli("register", "x-bot", "1.0.0", "--actor", "ana", project=project)
        assert (status, err) == (0, ""), project  # not "already registered" in beta
        assert cli("promote", "x-bot", "1.0.0", "--to", "dev", "--actor", "ana", project=project)[0] == 0
        for environment in ("staging", "prod"):
            status, _, err = cli("promote", "x-bot", "1.0.0", "--to", environment, "--actor", "ana",
                                 "--override", "no suite in this test", project=project)
            assert (status, err) == (0, ""), (project, environment)
    status, _, err = cli("register", "x-bot", "1.0.0", "--actor", "ana", project="alpha")
    assert status != 0 and "already registered" in err  # registered versions stay immutable in a project

    with engine.connect() as conn:
        t = RegistryEnvironment
        environments = sorted(conn.execute(select(t.project_id, t.agent_name, t.environment, t.version)).all())
        agents = sorted(conn.execute(select(Agent.project_id, Agent.name, Agent.version, Agent.source)).all())
    assert environments == [(p, "x-bot", e, "1.0.0") for p in ("alpha", "beta") for e in ("dev", "prod", "staging")]
    assert agents == [(p, "x-bot", "1.0.0", "registry") for p in ("alpha", "beta")]
    for project in ("alpha", "beta"):
        status, out, _ = cli("list", "--json", project=project)
        assert status == 0
        assert [(v["name"], v["version"], sorted(v["environments"])) for v in json.loads(out)] == [
            ("x-bot", "1.0.0", ["dev", "prod", "staging"])]
