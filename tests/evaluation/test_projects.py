"""Issue 20: ``agentotel eval run | list | report | compare --project P`` read only P's runs and store their
runs in P, on SQLite and PostgreSQL; an unknown project is one line and exit 2."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from agentotel.cli import main
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.models import EvaluationRun
from tests.support.projects import make_projects

SUITE = """
name: capitals
evaluators: [accuracy]
cases:
  - id: france
    input: "What is the capital of France?"
    expected: Paris
  - id: japan
    input: "What is the capital of Japan?"
    expected: Tokyo
"""
AGENT = "tests.evaluation.sample_agents:qa_agent"


def _run(db_url: str, suite: str, project: str | None, name: str, capsys) -> str:
    extra = ["--project", project] if project else []
    assert main(["eval", "run", suite, "--agent", AGENT, "--agent-name", name, "--db", db_url, "--no-progress",
                 *extra]) == 0
    return re.search(r"^run (\w+): completed", capsys.readouterr().out, re.M).group(1)


@pytest.mark.slow
def test_eval_commands_are_confined_to_their_project(db_url, tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    engine = create_db_engine(db_url)
    try:
        make_projects(engine, "alpha", "beta")
        run_a = _run(db_url, str(suite), "alpha", "agent-a", capsys)
        run_b = _run(db_url, str(suite), "beta", "agent-b", capsys)
        run_default = _run(db_url, str(suite), None, "agent-d", capsys)
        with engine.connect() as conn:
            stamped = dict(conn.execute(select(EvaluationRun.id, EvaluationRun.project_id)).all())
        assert stamped == {run_a: "alpha", run_b: "beta", run_default: "default"}

        assert main(["eval", "list", "--db", db_url, "--project", "alpha"]) == 0
        listed = capsys.readouterr().out
        assert run_a in listed and run_b not in listed and run_default not in listed
        assert main(["eval", "list", "--db", db_url]) == 0  # without --project: the default project, as before
        listed = capsys.readouterr().out
        assert run_default in listed and run_a not in listed and run_b not in listed

        assert main(["eval", "report", run_a, "--db", db_url, "--project", "alpha"]) == 0
        assert f"# Evaluation run {run_a}" in capsys.readouterr().out
        assert main(["eval", "report", run_b, "--db", db_url, "--project", "alpha"]) == 2  # B's run is not A's
        assert f"no evaluation run '{run_b}'" in capsys.readouterr().err
        assert main(["eval", "compare", run_a, run_b, "--db", db_url, "--project", "alpha"]) == 2
        assert f"no evaluation run '{run_b}'" in capsys.readouterr().err
    finally:
        engine.dispose()


def test_an_unknown_project_is_one_line_and_exit_2(db_url, capsys, monkeypatch):
    assert main(["eval", "list", "--db", db_url, "--project", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown project 'nosuch'" in err
    monkeypatch.setenv("AGENTOTEL_PROJECT", "Bad Name")
    assert main(["eval", "list", "--db", db_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "invalid project name 'Bad Name'" in err


def test_online_scores_belong_to_their_executions_project(db_url, engine, capsys):
    from agentotel.evaluation.online import OnlineAgentConfig, OnlineConfig, OnlineEvaluator
    from agentotel.warehouse.evaluation_models import EvaluationResultRecord
    from tests.evaluation.test_online import executions

    make_projects(engine, "alpha", "beta")
    alpha = executions(engine, 3, project_id="alpha")
    beta = executions(engine, 2, first=10, project_id="beta")
    every = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=1.0, evaluators=("coherence",)),))
    assert OnlineEvaluator(engine, every, project="beta").tick().scored == 2  # beta's executions only
    with engine.connect() as conn:
        scored = dict(conn.execute(select(EvaluationResultRecord.execution_id, EvaluationResultRecord.project_id)).all())
    assert scored == dict.fromkeys(beta, "beta")
    assert OnlineEvaluator(engine, every).tick().scored == 3  # every project: the rest, each stamped with its own
    with engine.connect() as conn:
        scored = dict(conn.execute(select(EvaluationResultRecord.execution_id, EvaluationResultRecord.project_id)).all())
    assert scored == {**dict.fromkeys(beta, "beta"), **dict.fromkeys(alpha, "alpha")}
    assert main(["eval", "online", "--once", "--db", db_url, "--project", "alpha"]) == 0  # nothing new in alpha
    assert "0 execution(s) looked at" in capsys.readouterr().out


def _online_rows(engine) -> tuple[dict[str, str], dict[tuple[str, str], object]]:
    """(execution id -> the project of its claim, (name, project) -> watermark)."""
    from agentotel.warehouse.evaluation_models import OnlineClaim, OnlineState

    with engine.connect() as conn:
        claims = dict(conn.execute(select(OnlineClaim.execution_id, OnlineClaim.project_id)).all())
        states = {(n, p): w for n, p, w in conn.execute(select(OnlineState.name, OnlineState.project_id,
                                                                 OnlineState.watermark))}
    return claims, states  # type: ignore[return-value]


def test_eval_online_keeps_each_projects_claims_and_watermark(db_url, engine, capsys):
    """``eval online --project alpha`` and ``--project beta``: each claims only its own executions, stamped with
    its project, and keeps its own watermark (key: name and project); ``--status`` of one shows only its own."""
    from tests.evaluation.test_online import executions

    make_projects(engine, "alpha", "beta")
    alpha = executions(engine, 3, project_id="alpha")
    beta = executions(engine, 2, first=10, project_id="beta")
    flags = ["--once", "--sample-rate", "1", "--evaluator", "coherence", "--db", db_url]
    assert main(["eval", "online", *flags, "--project", "alpha"]) == 0
    assert "3 execution(s) looked at: 3 scored" in capsys.readouterr().out
    claims, states = _online_rows(engine)
    assert claims == dict.fromkeys(alpha, "alpha") and set(states) == {("default", "alpha")}
    assert main(["eval", "online", *flags, "--project", "beta"]) == 0
    assert "2 execution(s) looked at: 2 scored" in capsys.readouterr().out
    claims, states = _online_rows(engine)
    assert claims == {**dict.fromkeys(alpha, "alpha"), **dict.fromkeys(beta, "beta")}
    assert set(states) == {("default", "alpha"), ("default", "beta")}
    assert main(["eval", "online", "--status", "--db", db_url, "--project", "beta"]) == 0
    status = capsys.readouterr().out
    assert "scores stored: 2; executions: 2 scored" in status and status.count("watermark default:") == 1
    assert main(["eval", "online", *flags, "--project", "alpha"]) == 0  # alpha again: nothing new in alpha
    assert "0 execution(s) looked at" in capsys.readouterr().out
    assert _online_rows(engine)[0] == claims


@pytest.mark.slow
def test_a_run_links_to_the_version_registered_in_its_own_project(db_url, tmp_path, capsys):
    """Agents are per project: a version registered in alpha is what an alpha run links to, and for beta it
    is not registered yet."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    engine = create_db_engine(db_url)
    try:
        make_projects(engine, "alpha", "beta")
        assert main(["registry", "register", "geo", "1.0.0", "--db", db_url, "--project", "alpha"]) == 0
        capsys.readouterr()
        for project, expected in (("alpha", "linked to registry version geo@1.0.0"), ("beta", "not registered yet")):
            assert main(["eval", "run", str(suite), "--agent", AGENT, "--agent-name", "geo", "--agent-version", "1.0.0",
                         "--db", db_url, "--no-progress", "--project", project]) == 0
            assert expected in capsys.readouterr().out, project
    finally:
        engine.dispose()
