"""The promotion gate against the real evaluation component, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from agentotel.evaluation import runs
from agentotel.registry import (
    DEFAULT_POLICIES,
    GatePolicy,
    GateRefused,
    PromotionConflict,
    PromotionGate,
    WarehouseEvaluationStore,
    audit_log,
    deployments,
)
from tests.registry.support import (
    BarrierGate,
    assert_consistent,
    count_rows,
    evaluate,
    make_registry,
    race,
    register,
)


def to_prod(vm, name: str, version: str, actor: str = "ana") -> None:
    for env in ("dev", "staging", "prod"):
        vm.promote(name, version, env, actor=actor)


def test_staging_requires_a_completed_evaluation_run(engine):
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0")
    vm = registry.versions
    vm.promote("bot", "1.0.0", "dev", actor="ana")  # dev: no evidence needed
    with pytest.raises(GateRefused, match="no completed evaluation run of bot@1.0.0") as refused:
        vm.promote("bot", "1.0.0", "staging", actor="ana", reason="ready")
    assert not refused.value.decision.allowed
    assert vm.active_version("bot", "staging") is None
    [entry] = [e for e in audit_log(engine, name="bot") if e.outcome == "refused"]
    assert (entry.actor, entry.action, entry.environment, entry.reason) == ("ana", "promote", "staging", "ready")
    assert entry.after["gate"]["checks"][0]["passed"] is False

    # a run that is still running (or failed) is no evidence
    runs.start_run(engine, "run-in-progress", "capitals", "bot", "1.0.0")
    with pytest.raises(GateRefused):
        vm.promote("bot", "1.0.0", "staging", actor="ana")

    run_id = evaluate(engine, "bot", "1.0.0")
    done = vm.promote("bot", "1.0.0", "staging", actor="ana")
    assert done.gate["passed"] is True and done.gate["run_id"] == run_id
    assert vm.active_version("bot", "staging") == "1.0.0"


def test_prod_gate_refuses_a_regressed_version(engine):
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "1.1.0", "2.0.0")
    vm = registry.versions
    baseline_run = evaluate(engine, "bot", "1.0.0", quality=1.0)
    to_prod(vm, "bot", "1.0.0")

    regressed_run = evaluate(engine, "bot", "2.0.0", quality=0.3)
    vm.promote("bot", "2.0.0", "dev", actor="ana")
    # staging is gated like prod (the README's one policy; issue 18, failure 4: it asked for a run only)
    with pytest.raises(GateRefused, match=r"significant regression against 1\.0\.0.*accuracy\.exact"):
        vm.promote("bot", "2.0.0", "staging", actor="ana")
    assert vm.active_version("bot", "staging") == "1.0.0"
    vm.promote("bot", "2.0.0", "staging", actor="ana", override_reason="let QA look at it")
    with pytest.raises(GateRefused, match=r"significant regression against 1\.0\.0.*accuracy\.exact") as refused:
        vm.promote("bot", "2.0.0", "prod", actor="bob", reason="ship it")
    decision = refused.value.decision
    assert (decision.run_id, decision.baseline_run_id, decision.baseline_version) == (regressed_run, baseline_run, "1.0.0")
    assert "accuracy.exact" in {r.metric for r in decision.regressions}
    assert vm.active_version("bot", "prod") == "1.0.0"
    assert len(deployments(engine, "bot", "prod")) == 1
    [entry, _] = [e for e in audit_log(engine, name="bot") if e.outcome == "refused"]
    assert entry.actor == "bob" and entry.before == {"version": "1.0.0"} and entry.environment == "prod"
    assert any(r["metric"] == "accuracy.exact" for r in entry.after["gate"]["regressions"])

    # an equally good version passes the same gate
    evaluate(engine, "bot", "1.1.0", quality=1.0)
    vm.promote("bot", "1.1.0", "dev", actor="ana")
    vm.promote("bot", "1.1.0", "staging", actor="ana")
    passed = vm.promote("bot", "1.1.0", "prod", actor="ana")
    assert passed.gate["passed"] is True and passed.previous_version == "1.0.0"
    assert [c["name"] for c in passed.gate["checks"]] == ["evaluation", "regression"]
    assert passed.gate["suite"] == "capitals" and passed.gate["runs"] == [passed.gate["run_id"]]


def test_override_needs_a_reason_and_is_audited(engine):
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "2.0.0")
    vm = registry.versions
    evaluate(engine, "bot", "1.0.0", quality=1.0)
    to_prod(vm, "bot", "1.0.0")
    evaluate(engine, "bot", "2.0.0", quality=0.3)
    vm.promote("bot", "2.0.0", "dev", actor="ana")
    vm.promote("bot", "2.0.0", "staging", actor="ana", override_reason="QA wants to see it")
    with pytest.raises(GateRefused):
        vm.promote("bot", "2.0.0", "prod", actor="cy", override_reason="   ")  # a blank reason is no reason
    forced = vm.promote("bot", "2.0.0", "prod", actor="cy", override_reason="legal requires the new disclaimer")
    assert forced.gate["overridden"] is True and forced.gate["passed"] is False
    assert forced.gate["override_reason"] == "legal requires the new disclaimer"
    assert forced.reason == "override: legal requires the new disclaimer"
    entry = audit_log(engine, name="bot")[0]
    assert (entry.actor, entry.action, entry.outcome, entry.environment) == ("cy", "promote", "ok", "prod")
    assert entry.reason == "override: legal requires the new disclaimer"
    assert entry.after["gate"]["overridden"] is True and entry.before == {"version": "1.0.0"}


def test_baseline_without_evaluation_and_configurable_policies(engine):
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "1.1.0")
    vm = registry.versions
    for env in ("dev", "staging", "prod"):
        vm.promote("bot", "1.0.0", env, actor="ana", override_reason="bootstrap before evaluations existed")
    evaluate(engine, "bot", "1.1.0")
    vm.promote("bot", "1.1.0", "dev", actor="ana")
    decision = vm.check_promotion("bot", "1.1.0", "staging")
    assert not decision.allowed and "the active version 1.0.0 has no completed run on suite capitals@" in decision.summary()
    vm.promote("bot", "1.1.0", "staging", actor="ana", override_reason="1.0.0 predates evaluations")
    decision = vm.check_promotion("bot", "1.1.0", "prod")
    assert not decision.allowed and "the active version 1.0.0 has no completed run on suite capitals@" in decision.summary()
    assert count_rows(engine, "registry_audit_log", outcome="refused") == 0  # a check changes nothing

    relaxed = dict(DEFAULT_POLICIES, prod=GatePolicy.parse("evaluation"))
    lenient = make_registry(engine, PromotionGate(WarehouseEvaluationStore(engine), policies=relaxed)).versions
    assert lenient.promote("bot", "1.1.0", "prod", actor="ana").gate["policy"] == "evaluation"


def test_two_gated_promotions_racing_for_prod(engine):
    registry = make_registry(engine)
    register(registry, "bot", "1.0.0", "1.1.0", "1.2.0")
    vm = registry.versions
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        evaluate(engine, "bot", version)
        vm.promote("bot", version, "dev", actor="ana")
        vm.promote("bot", version, "staging", actor="ana")
    vm.promote("bot", "1.0.0", "prod", actor="ana")
    gate = BarrierGate(WarehouseEvaluationStore(engine), policies=dict(DEFAULT_POLICIES))
    results, errors = race(
        engine,
        gate,
        [lambda m: m.promote("bot", "1.1.0", "prod", actor="ana"), lambda m: m.promote("bot", "1.2.0", "prod", actor="bob")],
    )
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], PromotionConflict), errors
    assert results[0].gate["passed"] and results[0].gate["baseline_version"] == "1.0.0"
    assert vm.active_version("bot", "prod") == results[0].version
    assert_consistent(engine, "bot", "prod")
