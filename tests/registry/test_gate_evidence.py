"""The promotion gate's evidence cannot be gamed (issue 18, failures 3, 4 and 5), on SQLite and PostgreSQL:
it fails closed on untestable metrics, gates staging like prod, compares runs of the same suite only,
does not let a later passing run hide a failing one, and records the runs it used."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from agentotel.core.utc import utcnow
from agentotel.registry import GatePolicy, GateRefused, PromotionGate, WarehouseEvaluationStore, audit_log
from agentotel.registry.gate import GATE_POLICY_FORMAT, GatePolicyError, parse_policies
from agentotel.warehouse.evaluation_models import EvaluationResultRecord
from tests.registry.support import make_registry, register


def evaluate(engine, name: str, version: str | None, right: int, cases: int = 30, suite: str = "capitals",
             agent_name: str | None = None) -> str:
    """A real BenchmarkSuite run (accuracy) where the first ``right`` of ``cases`` answers are right."""
    from opentelemetry.sdk.trace import TracerProvider

    from agentotel.evaluation.agents import CallableAgent
    from agentotel.evaluation.benchmark import BenchmarkSuite
    from agentotel.evaluation.factory import build_evaluators
    from agentotel.evaluation.suite import suite_from_dict

    spec = {"name": suite, "evaluators": ["accuracy"],
            "cases": [{"id": f"c{i}", "input": f"q{i}", "expected": f"answer {i}"} for i in range(cases)]}

    def agent(question: str) -> dict:
        i = int(question[1:])
        return {"output": f"answer {i}" if i < right else "no idea", "latency_ms": 50.0}

    provider = TracerProvider()
    run = BenchmarkSuite(build_evaluators(["accuracy"], provider), engine=engine, tracer_provider=provider,
                         show_progress=False).run(suite_from_dict(spec),
                                                  CallableAgent(agent, name=agent_name or name, version=version or ""))
    assert run.status == "completed"
    return run.run_id


def into(vm, name: str, version: str, *envs: str) -> None:
    for env in envs:
        vm.promote(name, version, env, actor="ana", override_reason="setting the scene")


def test_four_cases_are_no_evidence(engine):
    """Failure 3: accuracy 0.5 vs 1.0 on 4 cases was promoted with 'no significant regression'."""
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "2.0.0")
    vm = registry.versions
    evaluate(engine, "bot", "1.0.0", right=4, cases=4)
    into(vm, "bot", "1.0.0", "dev", "staging", "prod")
    evaluate(engine, "bot", "2.0.0", right=2, cases=4)
    into(vm, "bot", "2.0.0", "dev", "staging")
    with pytest.raises(GateRefused) as refused:
        vm.promote("bot", "2.0.0", "prod", actor="ana")
    summary = refused.value.decision.summary()
    assert "4 cases < 5" in summary and "accuracy.exact: 4 cases < 5" in summary, summary
    assert vm.active_version("bot", "prod") == "1.0.0"
    forced = vm.promote("bot", "2.0.0", "prod", actor="ana", override_reason="tiny suite, accepted risk")
    assert forced.gate["overridden"] and "accuracy.exact: 4 cases < 5" in forced.gate["untestable"]


def test_a_policy_may_require_a_minimum_number_of_cases(engine):
    policies = parse_policies("staging:\n  min_cases: 50\n")
    registry = make_registry(engine, PromotionGate(WarehouseEvaluationStore(engine), policies))
    register(registry, "bot", "1.0.0")
    evaluate(engine, "bot", "1.0.0", right=30)
    registry.versions.promote("bot", "1.0.0", "dev", actor="ana")
    with pytest.raises(GateRefused, match=r"has 30 cases < 50 \(the policy's min_cases\)"):
        registry.versions.promote("bot", "1.0.0", "staging", actor="ana")


def test_staging_is_gated_on_no_regression_like_prod(engine):
    """Failure 4: the README gates staging and prod alike; staging only asked for a run."""
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "2.0.0")
    vm = registry.versions
    evaluate(engine, "bot", "1.0.0", right=30)
    vm.promote("bot", "1.0.0", "dev", actor="ana")
    vm.promote("bot", "1.0.0", "staging", actor="ana")  # nothing active there yet: a run is enough
    evaluate(engine, "bot", "2.0.0", right=9)
    vm.promote("bot", "2.0.0", "dev", actor="ana")
    with pytest.raises(GateRefused, match=r"significant regression against 1\.0\.0") as refused:
        vm.promote("bot", "2.0.0", "staging", actor="ana")
    assert refused.value.decision.policy == "no-regression"
    assert vm.active_version("bot", "staging") == "1.0.0"
    assert parse_policies(None)["staging"] == parse_policies(None)["prod"] == GatePolicy.parse("no-regression")


def test_a_thin_suite_is_no_evidence_against_the_baselines_suite(engine):
    """Failure 5: the gate took the newest run whatever its suite; a thin suite got a regressed version in."""
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "2.0.0")
    vm = registry.versions
    evaluate(engine, "bot", "1.0.0", right=30)
    into(vm, "bot", "1.0.0", "dev", "staging", "prod")
    evaluate(engine, "bot", "2.0.0", right=9)  # regressed on the real suite
    evaluate(engine, "bot", "2.0.0", right=6, cases=6, suite="easy")  # perfect on a thin one, run last
    into(vm, "bot", "2.0.0", "dev", "staging")
    with pytest.raises(GateRefused, match=r"1\.0\.0 has no completed run on suite easy@.*its runs are on capitals@"):
        vm.promote("bot", "2.0.0", "prod", actor="ana")
    # the same suite name with other contents is another suite too
    evaluate(engine, "bot", "2.0.0", right=40, cases=40)
    with pytest.raises(GateRefused, match=r"no completed run on suite capitals@"):
        vm.promote("bot", "2.0.0", "prod", actor="ana")
    # a policy that names the suite compares on it, whatever ran last
    pinned = make_registry(engine, PromotionGate(WarehouseEvaluationStore(engine), parse_policies(
        "prod:\n  suite: capitals\n")))
    with pytest.raises(GateRefused, match=r"no completed run on suite capitals@"):  # newest capitals run: 40 cases
        pinned.versions.promote("bot", "2.0.0", "prod", actor="ana")


@pytest.mark.slow
def test_a_later_passing_run_does_not_hide_a_failing_one(engine):
    """Failure 5: re-running until it passes got through. Rule: every run of the version on the suite counts
    (policy ``runs: latest`` uses only the newest)."""
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "2.0.0")
    vm = registry.versions
    evaluate(engine, "bot", "1.0.0", right=30)
    into(vm, "bot", "1.0.0", "dev", "staging", "prod")
    failing = evaluate(engine, "bot", "2.0.0", right=9)
    passing = evaluate(engine, "bot", "2.0.0", right=30)
    into(vm, "bot", "2.0.0", "dev", "staging")
    with pytest.raises(GateRefused, match=rf"in run {failing}: accuracy\.exact") as refused:
        vm.promote("bot", "2.0.0", "prod", actor="ana")
    decision = refused.value.decision
    assert decision.run_id == passing and set(decision.runs) == {failing, passing}
    latest = make_registry(engine, PromotionGate(WarehouseEvaluationStore(engine), parse_policies("prod: {runs: latest}")))
    done = latest.versions.promote("bot", "2.0.0", "prod", actor="ana")
    assert done.gate["passed"] and done.gate["runs"] == [passing]


def test_the_run_used_is_recorded_in_the_audit(engine):
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "1.1.0")
    vm = registry.versions
    base = evaluate(engine, "bot", "1.0.0", right=30)
    into(vm, "bot", "1.0.0", "dev", "staging", "prod")
    run = evaluate(engine, "bot", "1.1.0", right=30)
    vm.promote("bot", "1.1.0", "dev", actor="ana")
    vm.promote("bot", "1.1.0", "staging", actor="ana")
    done = vm.promote("bot", "1.1.0", "prod", actor="ana")
    entry = audit_log(engine, name="bot")[0]
    for gate in (done.gate, entry.after["gate"]):
        assert (gate["run_id"], gate["baseline_run_id"], gate["runs"], gate["suite"]) == (run, base, [run], "capitals")
        assert len(gate["suite_hash"]) == 64 and gate["policy_detail"]["level"] == "no-regression"


def test_an_unlinked_run_is_named_in_the_refusal(engine):
    """Failure 5: runs link to versions only through --agent-name/--agent-version; refusals said not why."""
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0")
    evaluate(engine, "bot", None, right=30, agent_name="mypkg.agent:answer")  # eval run without the link
    registry.versions.promote("bot", "1.0.0", "dev", actor="ana")
    with pytest.raises(GateRefused) as refused:
        registry.versions.promote("bot", "1.0.0", "staging", actor="ana")
    summary = refused.value.decision.summary()
    assert "--agent-name bot --agent-version 1.0.0" in summary
    assert "recent runs are stored as mypkg.agent:answer@(no version)" in summary


def test_policies_per_environment_and_per_agent():
    policies = parse_policies(GATE_POLICY_FORMAT)
    prod = policies["prod"]
    assert (prod.level, prod.min_cases, prod.suite, prod.tail, prod.runs) == (
        "no-regression", 30, "support-faq", ("latency_ms",), "all")
    assert prod.online is not None and prod.online.metrics == ("coherence",) and prod.online.window == timedelta(hours=24)
    assert policies.for_agent("support-bot", "prod").min_cases == 50
    assert policies.for_agent("support-bot", "prod").suite == "support-faq"  # overlaid on the environment's
    assert policies.for_agent("other-bot", "prod").min_cases == 30
    assert policies["dev"].level == "none" and policies["staging"].level == "no-regression"
    levels = parse_policies("dev=none,staging=evaluation,prod=no-regression")
    assert levels["staging"].level == "evaluation" and levels["prod"] == parse_policies(None)["prod"]
    with pytest.raises(GatePolicyError, match="prod: unknown field"):
        parse_policies("prod: {min_case: 3}", strict=True)
    with pytest.raises(GatePolicyError, match="unknown gate level"):
        parse_policies("prod=strict", strict=True)
    assert parse_policies("prod: {min_case: 3}")["prod"] == GatePolicy.parse("no-regression")  # lenient: defaults


def _online_scores(engine, version: str, values: list[float], first: int = 0) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(EvaluationResultRecord), [
            {"execution_id": f"{version}-{first + i}", "trace_id": f"{i:032x}", "span_id": f"{i:016x}", "agent_name": "bot",
             "agent_version": version, "execution_time": now - timedelta(minutes=i), "evaluated_at": now,
             "name": "coherence", "score_value": value, "evaluator": "coherence", "source": "online"}
            for i, value in enumerate(values)])


def _online_policy_with_1_0_in_prod(engine, min_executions: int):
    """bot 1.0.0 in prod and 1.1.0 in staging, both evaluated alike, under a prod policy on online coherence."""
    policies = parse_policies(f"prod:\n  online: {{metrics: [coherence], min_executions: {min_executions}, window: 1h}}\n")
    registry = make_registry(engine, PromotionGate(WarehouseEvaluationStore(engine), policies))
    register(registry, "bot", "1.0.0", "1.1.0")
    vm = registry.versions
    evaluate(engine, "bot", "1.0.0", right=30)
    into(vm, "bot", "1.0.0", "dev", "staging", "prod")
    evaluate(engine, "bot", "1.1.0", right=30)
    into(vm, "bot", "1.1.0", "dev", "staging")
    return vm


def test_production_scores_as_evidence(engine):
    vm = _online_policy_with_1_0_in_prod(engine, min_executions=20)
    _online_scores(engine, "1.0.0", [0.9 + 0.002 * (i % 10) for i in range(30)])
    _online_scores(engine, "1.1.0", [0.9] * 10)
    with pytest.raises(GateRefused, match="production evidence too thin: coherence: 1.1.0 has 10 scored executions < 20"):
        vm.promote("bot", "1.1.0", "prod", actor="ana")
    _online_scores(engine, "1.1.0", [0.5 + 0.002 * (i % 10) for i in range(30)], first=10)
    with pytest.raises(GateRefused, match="production scores regressed against 1.0.0 over 1 h: coherence"):
        vm.promote("bot", "1.1.0", "prod", actor="ana")


def test_production_scores_too_few_to_test_refuse(engine):
    """Fail closed on production evidence too: a policy's min_executions below the detector's 5 samples let
    an untestable online comparison pass as 'production scores hold' (before: promoted)."""
    vm = _online_policy_with_1_0_in_prod(engine, min_executions=3)
    _online_scores(engine, "1.0.0", [0.9, 0.91, 0.92])
    _online_scores(engine, "1.1.0", [0.2, 0.21, 0.22])
    with pytest.raises(GateRefused, match=r"production scores cannot be tested: coherence: 3 cases < 5"):
        vm.promote("bot", "1.1.0", "prod", actor="ana")
    assert vm.active_version("bot", "prod") == "1.0.0"
