"""``agentotel eval run | compare | report`` end to end on SQLite and PostgreSQL."""

import json
import re

import pytest

from agentotel.cli import main

SUITE = """
name: capitals
evaluators: [accuracy, factuality, performance]
cases:
""" + "".join(
    f"""  - id: {country.lower()}-{i}
    input: "What is the capital of {country}? ({i})"
    expected: {capital}
    context: ["The capital of {country} is {capital}."]
    tags: [capitals]
"""
    for i in range(8)
    for country, capital in (("France", "Paris"), ("Japan", "Tokyo"))
)


def run_id_of(output: str) -> str:
    return re.search(r"^run (\w+): completed", output, re.M).group(1)


def test_run_gate_compare_and_report(db_url, tmp_path, capsys, monkeypatch):
    # 20 ms per answer: sub-millisecond thread jitter of an instant function would otherwise show as latency changes.
    monkeypatch.setenv("EVAL_TEST_AGENT_DELAY", "0.02")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    agent = "tests.evaluation.sample_agents:"
    assert main(["eval", "run", str(suite), "--agent", agent + "qa_agent", "--agent-name", "geo", "--agent-version", "1",
                 "--db", db_url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    good = run_id_of(out)
    assert "| accuracy.fuzzy | 16 | 0.9 |" in out and "latency ms p50" in out

    code = main(["eval", "run", str(suite), "--agent", agent + "wrong_agent", "--agent-name", "geo", "--agent-version", "2",
                 "--db", db_url, "--baseline", good, "--concurrency", "3", "--no-progress", "--alert"])
    captured = capsys.readouterr()
    assert code == 1, captured.out
    bad = run_id_of(captured.out)
    assert "**REGRESSION**" in captured.out and "accuracy.fuzzy" in captured.out
    assert "regression in:" in captured.err and "alert raised:" in captured.err

    assert main(["eval", "compare", good, bad, "--db", db_url, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["baseline_run_id"] == good and data["current_run_id"] == bad and "accuracy.fuzzy" in data["regressions"]
    # Reversed, quality only improves; latency may differ for real between two runs on a busy machine, so the
    # gate is narrowed to the quality metrics here.
    assert main(["eval", "compare", bad, good, "--db", db_url, "--metric", "accuracy.fuzzy", "--metric", "factuality"]) == 0
    reverse = capsys.readouterr().out
    assert "**No regression** found." in reverse and "| latency_ms |" not in reverse

    assert main(["eval", "report", bad, "--db", db_url]) == 0
    report = capsys.readouterr().out
    assert f"# Evaluation run {bad}" in report and "- agent: geo 2" in report and "## Recommendations" in report
    assert main(["eval", "report", good, "--db", db_url, "--format", "json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert stored["status"] == "completed" and stored["summary"]["metrics"]["accuracy.fuzzy"]["mean"] == pytest.approx(0.9)

    assert main(["eval", "list", "--db", db_url]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(bad) and listed[1].startswith(good)


def test_user_errors_exit_2_with_a_message(tmp_path, capsys, monkeypatch):
    db = f"sqlite:///{tmp_path}/eval.db"
    monkeypatch.setenv("MONITORING_DB_URL", db)  # --db defaults to it
    bad_suite = tmp_path / "bad.yaml"
    bad_suite.write_text("cases:\n  - id: a\n    expected: x\n")
    good_suite = tmp_path / "good.yaml"
    good_suite.write_text("cases:\n  - id: a\n    input: What is the capital of France?\n    expected: Paris\n")
    cases = [
        (["eval", "run", str(bad_suite), "--agent", "tests.evaluation.sample_agents:qa_agent"], "case #1 ('a'): 'input' is required"),
        (["eval", "run", str(good_suite), "--agent", "nowhere:fn"], "cannot import module 'nowhere'"),
        (["eval", "run", str(good_suite), "--agent", "tests.evaluation.sample_agents:qa_agent", "--baseline", "missing"],
         "no evaluation run 'missing'"),
        (["eval", "run", str(good_suite), "--agent", "tests.evaluation.sample_agents:qa_agent", "--evaluator", "nope"],
         "unknown evaluator 'nope'"),
        (["eval", "run", str(good_suite), "--endpoint", "http://127.0.0.1:9/v1"], "--endpoint needs --model"),
        (["eval", "run", "--recorded", "ghost"], "no recorded executions with input for agent 'ghost'"),
        (["eval", "compare", "x", "y"], "no evaluation run 'y'"),
        (["eval", "report", "x"], "no evaluation run 'x'"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert main(["eval", "run", str(good_suite), "--agent", "tests.evaluation.sample_agents:qa_agent", "--no-progress"]) == 0
    assert (tmp_path / "eval.db").exists()


def test_run_on_recorded_executions(tmp_path, capsys):
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert

    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade
    from agentotel.warehouse.models import AgentExecution

    db = f"sqlite:///{tmp_path}/prod.db"
    engine = create_db_engine(db)
    upgrade(engine)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecution), [
            {"id": f"{i:032x}-{i:016x}", "trace_id": f"{i:032x}", "span_id": f"{i:016x}",
             "timestamp": now - timedelta(minutes=i), "input": f"question {i}", "agent_name": "prod-bot",
             "agent_version": "3" if i < 6 else "2", "duration_ms": 100.0 + i,
             "output": "You are an idiot." if i == 1 else f"A calm answer to question {i}."}
            for i in range(1, 9)
        ])
    engine.dispose()
    assert main(["eval", "run", "--recorded", "prod-bot", "--agent-version", "3", "--since",
                 (now - timedelta(hours=1)).isoformat(), "--evaluator", "toxicity", "--db", db, "--no-progress"]) == 0
    out = capsys.readouterr().out
    run_id = run_id_of(out)
    assert "5 case(s), 0 error(s)" in out and "| toxicity | 5 | 0.1 |" in out
    assert main(["eval", "report", run_id, "--db", db, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark_id"] == "recorded:prod-bot" and report["agent_version"] == "3"


def test_run_the_example_suite_against_an_openai_compatible_endpoint(tmp_path, capsys):
    from pathlib import Path

    import agentotel.evaluation
    from tests.support.fake_openai import FakeLLMServer

    answers = {
        "refund": "You can ask for a refund within 30 days; it goes back to the original payment method.",
        "password": "Open Settings, then Security, and click Reset password: a reset link is sent to your email.",
        "delete": "Yes, from Settings > Privacy > Delete account. Deletion is permanent after 14 days.",
    }

    def responder(body):
        question = body["messages"][-1]["content"].lower()
        return next(text for key, text in answers.items() if key in question)

    suite = Path(agentotel.evaluation.__file__).with_name("example_suite.yaml")
    with FakeLLMServer(responder=responder) as server:
        code = main(["eval", "run", str(suite), "--endpoint", server.base_url, "--model", "gpt-4o-mini",
                     "--db", f"sqlite:///{tmp_path}/e.db", "--no-progress", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)["summary"]  # one JSON document, nothing else
    assert summary["n_errors"] == 0 and summary["metrics"]["completeness"]["mean"] == 1.0
    assert summary["metrics"]["hallucination"]["mean"] == 0.0
    assert summary["performance"]["cost_usd_per_request"] > 0
    assert sum(r["messages"][0]["role"] == "system" for r in server.bodies) == 1
