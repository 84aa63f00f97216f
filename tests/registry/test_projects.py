"""Issue 20: ``agentotel registry ... --project P`` on SQLite and PostgreSQL: list, show, promote and history see
only P's agents, environments and entries, what they write carries P, and a promotion in one project never
changes another's environments; an unknown project is one line and exit 2."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from agentotel.cli import main
from agentotel.warehouse.models import Agent, AgentExecution
from agentotel.warehouse.registry_models import RegistryAuditEntry, RegistryDeployment, RegistryEnvironment
from tests.support.projects import make_projects


@pytest.fixture
def cli(db_url, capsys):
    """``agentotel registry ARGS --db URL [--project P]`` → (exit status, stdout, stderr)."""

    def run(*args: str, project: str | None = None) -> tuple[int, str, str]:
        scope = ["--project", project] if project else []
        status = main(["registry", "--db", db_url, *args, *scope])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _seed_shared_agent(engine) -> None:
    """One agent seen in the telemetry of both projects (a row of each): 3 executions (1 failed) in alpha, 2 in
    beta."""
    now = datetime.now(timezone.utc)
    rows = [{"id": f"{p}-{i}", "trace_id": f"{p:0>8}{i:024x}"[-32:], "span_id": f"{i:016x}", "agent_name": "shared",
             "agent_version": "1.0.0", "timestamp": now - timedelta(minutes=i), "duration_ms": 10.0, "tokens_used": 1,
             "success": not (p == "alpha" and i == 0), "project_id": p}
            for p, n in (("alpha", 3), ("beta", 2)) for i in range(n)]
    with engine.begin() as conn:
        conn.execute(insert(Agent), [{"name": "shared", "version": "1.0.0", "source": "telemetry", "created_at": now,
                                      "project_id": p} for p in ("alpha", "beta")])  # agents are per project
        conn.execute(insert(AgentExecution), rows)


def _environments(engine) -> dict[tuple[str, str], tuple[str, str, int]]:
    t = RegistryEnvironment
    with engine.connect() as conn:
        return {(r.agent_name, r.environment): (r.version, r.project_id, r.revision)
                for r in conn.execute(select(t.agent_name, t.environment, t.version, t.project_id, t.revision))}


@pytest.mark.slow
def test_registry_commands_are_confined_to_their_project(cli, engine):
    make_projects(engine, "alpha", "beta")
    _seed_shared_agent(engine)
    for name, version, project in (("bot-a", "1.0.0", "alpha"), ("bot-a", "1.1.0", "alpha"), ("bot-b", "1.0.0", "beta")):
        assert cli("register", name, version, "--changelog", f"{name} in {project}", "--actor", "ana",
                   project=project)[0] == 0
    assert cli("promote", "bot-a", "1.0.0", "--to", "dev", "--actor", "ana", project="alpha")[0] == 0
    assert cli("promote", "bot-b", "1.0.0", "--to", "dev", "--actor", "bob", project="beta")[0] == 0
    beta_before = {k: v for k, v in _environments(engine).items() if v[1] == "beta"}
    assert beta_before == {("bot-b", "dev"): ("1.0.0", "beta", 1)}

    status, out, _ = cli("list", "--json", project="alpha")
    assert status == 0
    listed = {(v["name"], v["version"]): v["environments"] for v in json.loads(out)}
    assert listed == {("bot-a", "1.0.0"): ["dev"], ("bot-a", "1.1.0"): [], ("shared", "1.0.0"): []}
    status, out, _ = cli("list", "--json", project="beta")
    assert {(v["name"], v["version"]) for v in json.loads(out)} == {("bot-b", "1.0.0"), ("shared", "1.0.0")}
    status, out, _ = cli("list")  # the default project: none of these agents is its own
    assert (status, out) == (0, "no agents yet: register one, or point an instrumented agent at the receiver\n")

    for command in (("show", "bot-b"), ("show", "bot-b", "1.0.0"), ("history", "bot-b")):
        status, _, err = cli(*command, project="alpha")
        assert status == 2 and "no agent named 'bot-b'" in err and err.count("\n") == 1
    status, out, _ = cli("show", "bot-a", "1.0.0", project="alpha")
    assert status == 0 and "ana: bot-a in alpha" in out
    # the shared agent's figures are those of the project's own executions
    status, out, _ = cli("show", "shared", "--json", project="alpha")
    assert status == 0
    (stats,) = json.loads(out)["stats"]
    assert (stats["executions"], stats["failures"]) == (3, 1)
    status, out, _ = cli("show", "shared", "--json", project="beta")
    assert [(s["executions"], s["failures"]) for s in json.loads(out)["stats"]] == [(2, 0)]

    # a promotion in alpha moves alpha's pointer only; alpha cannot touch beta's agent
    status, out, _ = cli("promote", "bot-a", "1.1.0", "--to", "dev", "--actor", "ana", project="alpha")
    assert (status, out) == (0, "promoted bot-a@1.1.0 to dev (was 1.0.0)\n")
    status, _, err = cli("promote", "bot-b", "1.0.0", "--to", "staging", "--actor", "mallory", project="alpha")
    assert status == 2 and "no agent named 'bot-b'" in err
    status, _, err = cli("rollback", "bot-b", "--env", "dev", "--reason", "x", "--actor", "mallory", project="alpha")
    assert status == 2 and "no agent named 'bot-b'" in err
    environments = _environments(engine)
    assert {k: v for k, v in environments.items() if v[1] == "beta"} == beta_before
    assert environments[("bot-a", "dev")] == ("1.1.0", "alpha", 2)
    with engine.connect() as conn:
        deployments = conn.execute(select(RegistryDeployment.agent_name, RegistryDeployment.project_id)).all()
        audit = conn.execute(select(RegistryAuditEntry.agent_name, RegistryAuditEntry.actor,
                                    RegistryAuditEntry.project_id)).all()
    assert sorted(deployments) == [("bot-a", "alpha"), ("bot-a", "alpha"), ("bot-b", "beta")]
    assert {(n, p) for n, _, p in audit} == {("bot-a", "alpha"), ("bot-b", "beta")}
    assert "mallory" not in {a for _, a, _ in audit}  # the refused attempts wrote nothing in beta

    status, out, _ = cli("history", "bot-a", project="alpha")
    assert status == 0 and len(out.splitlines()[1:]) == 4  # 2 registrations, 2 promotions


def test_an_unknown_project_is_one_line_and_exit_2(cli, monkeypatch):
    status, out, err = cli("list", project="nosuch")
    assert (status, out) == (2, "") and err.count("\n") == 1 and "unknown project 'nosuch'" in err
    monkeypatch.setenv("AGENTOTEL_PROJECT", "nosuch")  # the environment, resolved like --project
    status, _, err = cli("list")
    assert status == 2 and "unknown project 'nosuch'" in err
