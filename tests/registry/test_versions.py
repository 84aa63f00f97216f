"""VersionManager on SQLite and PostgreSQL: pipeline transitions, rollback, compare-and-set, racing promotions."""

from __future__ import annotations

import random

import pytest

from agentotel.registry import (
    AgentNotFound,
    GatePolicy,
    InvalidMetadata,
    InvalidTransition,
    PromotionConflict,
    PromotionGate,
    VersionNotFound,
    WarehouseEvaluationStore,
    audit_log,
    deployments,
)
from tests.registry.support import (
    BarrierGate,
    assert_consistent,
    count_rows,
    discover,
    make_registry,
    race,
    register,
)

OPEN = {"dev": GatePolicy(), "staging": GatePolicy(), "prod": GatePolicy()}


def open_registry(engine, gate: PromotionGate | None = None):
    """A registry whose gate requires nothing anywhere: these tests are about transitions, not evidence."""
    return make_registry(engine, gate or PromotionGate(WarehouseEvaluationStore(engine), policies=dict(OPEN)))


def test_promotion_walks_the_pipeline(engine):
    registry = open_registry(engine)
    register(registry, "bot", "1.0.0")
    vm = registry.versions
    with pytest.raises(InvalidTransition, match="never been in dev; promote it to dev before staging"):
        vm.promote("bot", "1.0.0", "staging", actor="ana")
    with pytest.raises(InvalidTransition, match="never been in staging"):
        vm.promote("bot", "1.0.0", "prod", actor="ana")
    d = vm.promote("bot", "1.0.0", "dev", actor="ana", reason="first")
    assert (d.environment, d.version, d.action, d.previous_version, d.actor, d.reason) == (
        "dev", "1.0.0", "promote", None, "ana", "first",
    )  # fmt: skip
    vm.promote("bot", "1.0.0", "staging", actor="ana")
    vm.promote("bot", "1.0.0", "prod", actor="ana")
    assert {env: s.version for env, s in vm.environments("bot").items()} == {e: "1.0.0" for e in ("dev", "staging", "prod")}
    with pytest.raises(InvalidTransition, match="already active in prod"):
        vm.promote("bot", "1.0.0", "prod", actor="ana")


def test_invalid_requests_are_refused_clearly(engine):
    registry = open_registry(engine)
    vm = registry.versions
    with pytest.raises(AgentNotFound, match="no agent named 'ghost'"):
        vm.promote("ghost", "1.0.0", "dev", actor="ana")
    register(registry, "bot", "1.0.0")
    with pytest.raises(VersionNotFound, match="no version '2.0.0'"):
        vm.promote("bot", "2.0.0", "dev", actor="ana")
    with pytest.raises(InvalidTransition, match="unknown environment 'qa'"):
        vm.promote("bot", "1.0.0", "qa", actor="ana")
    with pytest.raises(InvalidMetadata, match="actor"):
        vm.promote("bot", "1.0.0", "dev", actor="")
    discover(engine, "bot", "1.1.0")
    with pytest.raises(InvalidTransition, match="discovered in telemetry but is not registered"):
        vm.promote("bot", "1.1.0", "dev", actor="ana")
    with pytest.raises(InvalidTransition, match="nothing is active in prod"):
        vm.rollback("bot", "prod", actor="ana", reason="r")
    with pytest.raises(AgentNotFound):
        vm.rollback("ghost", "prod", actor="ana", reason="r")
    vm.promote("bot", "1.0.0", "dev", actor="ana")
    with pytest.raises(InvalidMetadata, match="rollback reason is required"):
        vm.rollback("bot", "dev", actor="ana", reason=" ")
    with pytest.raises(InvalidTransition, match="first version active in dev"):
        vm.rollback("bot", "dev", actor="ana", reason="r")
    assert count_rows(engine, "registry_deployments") == 1


def test_rollback_is_a_stack_and_can_name_a_version(engine):
    registry = open_registry(engine)
    register(registry, "bot", "1.0.0", "1.1.0", "1.2.0", "2.0.0")
    vm = registry.versions
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        vm.promote("bot", version, "dev", actor="ana")
    back = vm.rollback("bot", "dev", actor="bob", reason="1.2.0 loops on refunds")
    assert (back.action, back.previous_version, back.version) == ("rollback", "1.2.0", "1.1.0")
    assert vm.rollback("bot", "dev", actor="bob", reason="still bad").version == "1.0.0"
    with pytest.raises(InvalidTransition, match="no earlier version"):
        vm.rollback("bot", "dev", actor="bob", reason="again")
    # a named version must have been active there before
    with pytest.raises(InvalidTransition, match="never active in dev; promote it instead"):
        vm.rollback("bot", "dev", actor="bob", reason="r", to_version="2.0.0")
    with pytest.raises(VersionNotFound):
        vm.rollback("bot", "dev", actor="bob", reason="r", to_version="9.9.9")
    with pytest.raises(InvalidTransition, match="already active"):
        vm.rollback("bot", "dev", actor="bob", reason="r", to_version="1.0.0")
    assert vm.rollback("bot", "dev", actor="bob", reason="forward again", to_version="1.2.0").version == "1.2.0"
    # rolling back from there returns to what 1.2.0 had replaced when it was first promoted
    assert vm.rollback("bot", "dev", actor="bob", reason="r").version == "1.1.0"
    history = deployments(engine, "bot", "dev")
    assert [d.version for d in reversed(history)] == ["1.0.0", "1.1.0", "1.2.0", "1.1.0", "1.0.0", "1.2.0", "1.1.0"]
    rollbacks = [e for e in audit_log(engine, name="bot", newest_first=False) if e.action == "rollback"]
    assert [(e.actor, e.before["version"], e.after["version"]) for e in rollbacks][:2] == [
        ("bob", "1.2.0", "1.1.0"), ("bob", "1.1.0", "1.0.0"),
    ]  # fmt: skip
    assert rollbacks[0].reason == "1.2.0 loops on refunds"


def test_expected_active_is_a_compare_and_set(engine):
    registry = open_registry(engine)
    register(registry, "bot", "1.0.0", "1.1.0")
    vm = registry.versions
    with pytest.raises(PromotionConflict, match="has no version active, not 1.0.0"):
        vm.promote("bot", "1.0.0", "dev", actor="ana", expected_active="1.0.0")
    vm.promote("bot", "1.0.0", "dev", actor="ana", expected_active=None)
    with pytest.raises(PromotionConflict, match="has 1.0.0 active, not no version"):
        vm.promote("bot", "1.1.0", "dev", actor="ana", expected_active=None)
    vm.promote("bot", "1.1.0", "dev", actor="ana", expected_active="1.0.0")
    assert vm.active_version("bot", "dev") == "1.1.0"
    conflicts = [e for e in audit_log(engine, name="bot") if e.outcome == "conflict"]
    assert len(conflicts) == 2 and all(e.action == "promote" for e in conflicts)


@pytest.mark.parametrize("occupied", [True, False], ids=["replace-active", "empty-environment"])
def test_two_promotions_racing_for_one_environment(engine, occupied):
    gate = BarrierGate(WarehouseEvaluationStore(engine), policies=dict(OPEN))
    registry = open_registry(engine)
    register(registry, "bot", "1.0.0", "2.0.0", "3.0.0")
    if occupied:
        registry.versions.promote("bot", "1.0.0", "dev", actor="setup")
    results, errors = race(
        engine,
        gate,
        [lambda vm: vm.promote("bot", "2.0.0", "dev", actor="ana"), lambda vm: vm.promote("bot", "3.0.0", "dev", actor="bob")],
    )
    assert len(results) == 1, errors
    assert len(errors) == 1 and isinstance(errors[0], PromotionConflict), errors
    winner = results[0].version
    assert registry.versions.active_version("bot", "dev") == winner
    assert count_rows(engine, "registry_deployments") == (2 if occupied else 1)
    assert_consistent(engine, "bot", "dev")
    loser = "3.0.0" if winner == "2.0.0" else "2.0.0"
    [conflict] = [e for e in audit_log(engine, name="bot") if e.outcome == "conflict"]
    assert conflict.agent_version == loser


def test_promotion_racing_a_rollback(engine):
    gate = BarrierGate(WarehouseEvaluationStore(engine), policies=dict(OPEN))
    registry = open_registry(engine)
    register(registry, "bot", "1.0.0", "2.0.0", "3.0.0")
    registry.versions.promote("bot", "1.0.0", "dev", actor="setup")
    registry.versions.promote("bot", "2.0.0", "dev", actor="setup")

    def rollback_after_barrier(vm):
        gate.barrier.wait(timeout=20)  # rollback has no gate: meet the promoter here instead
        return vm.rollback("bot", "dev", actor="bob", reason="incident")

    results, errors = race(engine, gate, [lambda vm: vm.promote("bot", "3.0.0", "dev", actor="ana"), rollback_after_barrier])
    assert len(results) + len(errors) == 2
    assert all(isinstance(e, PromotionConflict) for e in errors), errors
    assert_consistent(engine, "bot", "dev")


def test_many_concurrent_changes_keep_the_history_whole(engine):
    registry = open_registry(engine)
    versions = [f"1.{i}.0" for i in range(4)]
    register(registry, "bot", *versions)
    registry.versions.promote("bot", versions[0], "dev", actor="setup")
    gate = PromotionGate(WarehouseEvaluationStore(engine), policies=dict(OPEN))

    def worker(seed):
        def job(vm):
            rng = random.Random(seed)
            done = 0
            for _ in range(6):
                try:
                    if rng.random() < 0.3:
                        vm.rollback("bot", "dev", actor=f"w{seed}", reason="chaos")
                    else:
                        vm.promote("bot", rng.choice(versions), "dev", actor=f"w{seed}")
                    done += 1
                except (PromotionConflict, InvalidTransition):
                    pass
            return done

        return job

    results, errors = race(engine, gate, [worker(s) for s in range(4)])
    assert not errors, errors
    assert len(deployments(engine, "bot", "dev")) == 1 + sum(results)
    assert_consistent(engine, "bot", "dev")
