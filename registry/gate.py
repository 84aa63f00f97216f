"""The promotion gate: a version enters staging/prod only with evidence from the evaluation component.

Per environment a ``GatePolicy`` says what is required: nothing (dev), a completed evaluation run of
the version (staging), or a completed run with no significant regression against the run of the
version active there now (prod). Policies come from the argument, else ``AGENTOTEL_REGISTRY_GATE``
(``dev=none,staging=evaluation,prod=no-regression``; resolved by ``RegistrySettings`` at the edge and
parsed by ``parse_policies``), else those defaults.

The gate reads the evaluation component only through ``EvaluationStore`` (``latest_completed_run`` and
``compare_runs``); ``WarehouseEvaluationStore`` adapts ``agentotel.evaluation.runs``. Anything that goes
wrong while gathering the evidence refuses the promotion (fail closed); an override with a reason is
possible and is audited by the caller.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine

from agentotel.core.settings import REGISTRY_GATE_ENV as GATE_ENV_VAR
from agentotel.evaluation import runs as evaluation_runs
from agentotel.evaluation.regression import RegressionReport
from agentotel.registry.errors import InvalidMetadata

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatePolicy:
    """What a promotion into one environment requires."""

    require_evaluation: bool = False
    block_regressions: bool = False

    LEVELS = ("none", "evaluation", "no-regression")

    @classmethod
    def parse(cls, level: str) -> GatePolicy:
        """``none`` | ``evaluation`` | ``no-regression``."""
        level = level.strip().lower()
        if level == "none":
            return cls()
        if level == "evaluation":
            return cls(require_evaluation=True)
        if level in ("no-regression", "no_regression"):
            return cls(require_evaluation=True, block_regressions=True)
        raise InvalidMetadata(f"unknown gate level {level!r}; use one of {', '.join(cls.LEVELS)}")

    @property
    def level(self) -> str:
        if self.block_regressions:
            return "no-regression"
        return "evaluation" if self.require_evaluation else "none"


DEFAULT_POLICIES: dict[str, GatePolicy] = {
    "dev": GatePolicy(),
    "staging": GatePolicy.parse("evaluation"),
    "prod": GatePolicy.parse("no-regression"),
}


def parse_policies(raw: str | None) -> dict[str, GatePolicy]:
    """Defaults overlaid with ``ENV=LEVEL,…`` (the value of ``AGENTOTEL_REGISTRY_GATE``,
    ``RegistrySettings.gate``); a malformed value is logged and ignored."""
    raw = (raw or "").strip()
    policies = dict(DEFAULT_POLICIES)
    if not raw:
        return policies
    try:
        for part in filter(None, (p.strip() for p in raw.split(","))):
            env, sep, level = part.partition("=")
            if not sep or env.strip() not in DEFAULT_POLICIES:
                raise InvalidMetadata(f"expected ENV=LEVEL with ENV in {', '.join(DEFAULT_POLICIES)}, got {part!r}")
            policies[env.strip()] = GatePolicy.parse(level)
    except InvalidMetadata as exc:
        logger.warning("%s=%r is invalid (%s); using the default gate policies", GATE_ENV_VAR, raw, exc)
        return dict(DEFAULT_POLICIES)
    return policies


def policies_from_env(environ: Mapping[str, str]) -> dict[str, GatePolicy]:
    """``parse_policies`` of ``AGENTOTEL_REGISTRY_GATE`` in ``environ`` (a mapping the caller passes)."""
    return parse_policies(environ.get(GATE_ENV_VAR))


class EvaluationStore(Protocol):
    """The two questions the gate asks the evaluation component."""

    def latest_completed_run(self, agent_name: str, agent_version: str) -> str | None: ...

    def compare_runs(self, current_run_id: str, baseline_run_id: str) -> Any: ...


class WarehouseEvaluationStore:
    """Adapter onto ``agentotel.evaluation.runs`` for one warehouse engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest_completed_run(self, agent_name: str, agent_version: str) -> str | None:
        run_id = evaluation_runs.latest_completed_run(self.engine, agent_name, agent_version)
        return None if run_id is None else str(run_id)

    def compare_runs(self, current_run_id: str, baseline_run_id: str) -> RegressionReport:
        return evaluation_runs.compare_runs(self.engine, current_run_id, baseline_run_id)


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict on promoting ``agent_name``@``version`` into ``environment``."""

    agent_name: str
    version: str
    environment: str
    policy: str
    baseline_version: str | None
    checks: tuple[GateCheck, ...] = ()
    run_id: str | None = None
    baseline_run_id: str | None = None
    regressions: tuple[Any, ...] = ()
    override_reason: str | None = None

    @property
    def passed(self) -> bool:
        """Every check passed (before any override)."""
        return all(c.passed for c in self.checks)

    @property
    def allowed(self) -> bool:
        return self.passed or self.override_reason is not None

    def failures(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def with_override(self, reason: str) -> GateDecision:
        return dataclasses.replace(self, override_reason=reason)

    def summary(self) -> str:
        failed = "; ".join(c.detail for c in self.failures())
        return failed or "all checks passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "passed": self.passed,
            "overridden": self.override_reason is not None and not self.passed,
            "override_reason": self.override_reason,
            "baseline_version": self.baseline_version,
            "run_id": self.run_id,
            "baseline_run_id": self.baseline_run_id,
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "regressions": [_plain(r) for r in self.regressions],
        }


def _plain(value: Any) -> Any:
    """A regression item as JSON (dataclass, ``to_dict()``, mapping, or its text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    elif hasattr(value, "model_dump") and callable(value.model_dump):
        value = value.model_dump()
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except ValueError:
        return str(value)


def _regression_name(value: Any) -> str:
    plain = _plain(value)
    if isinstance(plain, dict):
        for key in ("metric", "metric_name", "name"):
            if plain.get(key):
                return str(plain[key])
    return str(plain)


@dataclass
class PromotionGate:
    """Decides whether a version may enter an environment, by that environment's policy."""

    evaluations: EvaluationStore
    policies: dict[str, GatePolicy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))

    def policy_for(self, environment: str) -> GatePolicy:
        return self.policies.get(environment, GatePolicy())

    def evaluate(
        self, agent_name: str, version: str, environment: str, baseline_version: str | None
    ) -> GateDecision:
        """Check ``version`` against the environment's policy and the currently active ``baseline_version``."""
        policy = self.policy_for(environment)
        decision = GateDecision(agent_name, version, environment, policy.level, baseline_version)
        if not policy.require_evaluation:
            return dataclasses.replace(
                decision, checks=(GateCheck("policy", True, f"{environment} requires no evaluation"),)
            )
        checks: list[GateCheck] = []
        try:
            run_id = self.evaluations.latest_completed_run(agent_name, version)
        except Exception as exc:  # noqa: BLE001 - any failure to get evidence refuses (fail closed)
            logger.warning("promotion gate: evaluation lookup failed: %s", exc)
            return dataclasses.replace(
                decision, checks=(GateCheck("evaluation", False, f"evaluation results unavailable: {exc}"),)
            )
        if run_id is None:
            checks.append(
                GateCheck("evaluation", False, f"no completed evaluation run of {agent_name}@{version}")
            )
            return dataclasses.replace(decision, checks=tuple(checks))
        checks.append(GateCheck("evaluation", True, f"completed evaluation run {run_id}"))
        decision = dataclasses.replace(decision, run_id=run_id)
        if not policy.block_regressions:
            return dataclasses.replace(decision, checks=tuple(checks))
        if baseline_version is None:
            checks.append(GateCheck("regression", True, f"no version active in {environment} to compare with"))
            return dataclasses.replace(decision, checks=tuple(checks))
        try:
            baseline_run = self.evaluations.latest_completed_run(agent_name, baseline_version)
            if baseline_run is None:
                checks.append(
                    GateCheck(
                        "regression",
                        False,
                        f"the active version {baseline_version} has no completed evaluation run to compare "
                        "with; evaluate it or override",
                    )
                )
                return dataclasses.replace(decision, checks=tuple(checks))
            report = self.evaluations.compare_runs(run_id, baseline_run)
            regressions = tuple(getattr(report, "regressions", None) or ())
            has_regression = bool(report.has_regression)
        except Exception as exc:  # noqa: BLE001 - fail closed
            logger.warning("promotion gate: run comparison failed: %s", exc)
            checks.append(GateCheck("regression", False, f"comparison with {baseline_version} failed: {exc}"))
            return dataclasses.replace(decision, checks=tuple(checks))
        decision = dataclasses.replace(decision, baseline_run_id=baseline_run, regressions=regressions)
        if has_regression:
            names = ", ".join(_regression_name(r) for r in regressions) or "see the comparison report"
            checks.append(
                GateCheck(
                    "regression",
                    False,
                    f"significant regression against {baseline_version} (run {baseline_run}): {names}",
                )
            )
        else:
            checks.append(
                GateCheck("regression", True, f"no significant regression against {baseline_version} (run {baseline_run})")
            )
        return dataclasses.replace(decision, checks=tuple(checks))
