"""The promotion gate: a version enters staging/prod only with evidence from the evaluation component.

One policy, the README's: a promotion to staging or prod needs a completed evaluation run of the version
with no significant regression against the version active in that environment now (level
``no-regression``); dev needs nothing (``none``); ``evaluation`` asks for a run without comparing.
``GatePolicies`` holds a ``GatePolicy`` per environment and, optionally, per agent (an agent's entry
overlays its environment's field by field). They come from the argument, else ``AGENTOTEL_REGISTRY_GATE``
(or ``AGENTOTEL_REGISTRY_GATE_FILE``; resolved by ``RegistrySettings`` at the edge and parsed by
``parse_policies``): either levels, ``dev=none,staging=no-regression,prod=no-regression``, or a YAML/JSON
document (``GATE_POLICY_FORMAT``).

The evidence rule, fail closed:

1. The suite: the policy's ``suite`` if set, else the suite of the version's newest completed run; a
   suite is its name **and** content hash, so a candidate and a baseline run on different suites (or on
   different contents under one name) are never compared.
2. The candidate's runs on that suite: every completed run of the version on it (``runs: all``, the
   default), so a failing run is not hidden by a later passing one; ``runs: latest`` uses only the newest.
   The newest must have at least ``min_cases`` cases.
3. The baseline: the newest completed run of the active version on the same suite; none → refused.
4. Each candidate run is compared with the baseline (``RegressionDetector`` with the policy's thresholds,
   floors, opt-in ``tail`` and ``history`` checks); any significant regression refuses, and so does any
   gated metric (``metrics``, default: every metric either run has) that cannot be tested — too few
   cases ("accuracy.exact: 4 cases < 5"), missing from a run.
5. Optionally (``online``) the production scores of online evaluation: the candidate version's against
   the active version's over a window, compared the same way; too few scored executions → refused.

The gate reads the evaluation component only through ``EvaluationStore``; ``WarehouseEvaluationStore``
adapts ``agentotel.evaluation.runs`` and ``agentotel.evaluation.online``. Anything that goes wrong while
gathering the evidence refuses the promotion; an override with a reason is possible and is audited by the
caller. The decision (``GateDecision.to_dict``) records the suite, the runs used and every check.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import yaml
from sqlalchemy import Engine

from agentotel.core.durations import parse_duration
from agentotel.core.settings import REGISTRY_GATE_ENV as GATE_ENV_VAR
from agentotel.core.utc import utcnow
from agentotel.evaluation import online as evaluation_online
from agentotel.evaluation import runs as evaluation_runs
from agentotel.evaluation.regression import RegressionDetector, RegressionReport
from agentotel.registry.errors import InvalidMetadata

logger = logging.getLogger(__name__)

LEVELS = ("none", "evaluation", "no-regression")
RUN_RULES = ("all", "latest")
GATE_POLICY_FORMAT = """\
# AGENTOTEL_REGISTRY_GATE (or a file named by AGENTOTEL_REGISTRY_GATE_FILE): levels, or a document like
staging: no-regression            # a level, or a mapping of the fields below
prod:
  level: no-regression            # none | evaluation | no-regression
  min_cases: 30                   # the candidate's newest run needs at least this many cases
  suite: support-faq              # the suite the evidence must come from (default: the newest run's)
  metrics: [accuracy.exact, latency_ms]   # gated metrics (default: every metric either run has)
  tail: [latency_ms]              # metrics (or kinds) whose p95/p99 decide too
  history: [accuracy.exact]       # metrics tested against the agent's earlier runs on the suite
  runs: all                       # all (a failing run is never hidden) | latest
  thresholds: {accuracy.exact: 0.1}   # practical thresholds per metric (see the README)
  floors: {latency: 10}           # absolute floors per metric or kind
  online: {metrics: [coherence], min_executions: 50, window: 24h}   # production scores as evidence
agents:                           # per agent, overlaying the environment's fields
  support-bot:
    prod: {min_cases: 50}
"""


class GatePolicyError(InvalidMetadata):
    """A gate policy that cannot be read."""


@dataclass(frozen=True)
class OnlineEvidence:
    """Production scores as evidence: the candidate's online scores of ``metrics`` over ``window`` against
    the active version's, each side with at least ``min_executions`` scored executions."""

    metrics: tuple[str, ...] = ()
    min_executions: int = 30
    window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class GatePolicy:
    """What a promotion into one environment requires (see the module docstring for the rule)."""

    require_evaluation: bool = False
    block_regressions: bool = False
    min_cases: int = 5
    suite: str | None = None
    metrics: tuple[str, ...] = ()
    tail: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    runs: str = "all"
    thresholds: Mapping[str, float] = field(default_factory=dict)
    floors: Mapping[str, float] = field(default_factory=dict)
    online: OnlineEvidence | None = None

    LEVELS = LEVELS

    @classmethod
    def parse(cls, level: str) -> GatePolicy:
        """``none`` | ``evaluation`` | ``no-regression``."""
        return cls()._with_level(level)

    def _with_level(self, level: str) -> GatePolicy:
        level = str(level).strip().lower().replace("_", "-")
        if level not in LEVELS:
            raise GatePolicyError(f"unknown gate level {level!r}; use one of {', '.join(LEVELS)}")
        return dataclasses.replace(self, require_evaluation=level != "none", block_regressions=level == "no-regression")

    @property
    def level(self) -> str:
        if self.block_regressions:
            return "no-regression"
        return "evaluation" if self.require_evaluation else "none"

    def detector(self) -> RegressionDetector:
        """The regression detector this policy compares runs with."""
        return RegressionDetector(thresholds=dict(self.thresholds), floors=dict(self.floors), tail=self.tail,
                                  history_metrics=self.history, min_samples=5)

    def overlay(self, data: Mapping[str, Any], where: str) -> GatePolicy:
        """This policy with the fields of a policy document's entry (a level, or a mapping) set."""
        if isinstance(data, str):
            return self._with_level(data)
        if not isinstance(data, Mapping):
            raise GatePolicyError(f"{where}: expected a level or a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - _POLICY_KEYS)
        if unknown:
            raise GatePolicyError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_POLICY_KEYS))}")
        policy = self._with_level(data["level"]) if "level" in data else self
        changes: dict[str, Any] = {}
        if "min_cases" in data:
            changes["min_cases"] = _int(data["min_cases"], f"{where}.min_cases", minimum=2)
        if "suite" in data:
            changes["suite"] = None if data["suite"] is None else str(data["suite"])
        for key in ("metrics", "tail", "history"):
            if key in data:
                changes[key] = _names(data[key], f"{where}.{key}")
        if "runs" in data:
            if data["runs"] not in RUN_RULES:
                raise GatePolicyError(f"{where}.runs: use one of {', '.join(RUN_RULES)}, got {data['runs']!r}")
            changes["runs"] = data["runs"]
        for key in ("thresholds", "floors"):
            if key in data:
                changes[key] = {**getattr(policy, key), **_numbers(data[key], f"{where}.{key}")}
        if "online" in data:
            changes["online"] = _online(data["online"], f"{where}.online")
        return dataclasses.replace(policy, **changes)

    def describe(self) -> dict[str, Any]:
        """The policy as recorded with a decision."""
        out: dict[str, Any] = {"level": self.level, "min_cases": self.min_cases, "runs": self.runs}
        for key in ("suite", "metrics", "tail", "history", "thresholds", "floors"):
            value = getattr(self, key)
            if value:
                out[key] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, Mapping) else value
        if self.online is not None:
            out["online"] = {"metrics": list(self.online.metrics), "min_executions": self.online.min_executions,
                             "window_s": self.online.window.total_seconds()}
        return out


_POLICY_KEYS = {"level", "min_cases", "suite", "metrics", "tail", "history", "runs", "thresholds", "floors", "online"}


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GatePolicyError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GatePolicyError(f"{where}: expected a list of names")
    return tuple(value)


def _numbers(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise GatePolicyError(f"{where}: expected a mapping of metric (or kind) to a number")
    out = {}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
            raise GatePolicyError(f"{where}.{key}: expected a number >= 0, got {number!r}")
        out[str(key)] = float(number)
    return out


def _online(value: Any, where: str) -> OnlineEvidence | None:
    if value is None or value is False:
        return None
    if not isinstance(value, Mapping):
        raise GatePolicyError(f"{where}: expected a mapping (metrics, min_executions, window)")
    unknown = sorted(set(value) - {"metrics", "min_executions", "window"})
    if unknown:
        raise GatePolicyError(f"{where}: unknown field(s) {', '.join(unknown)}")
    metrics = _names(value.get("metrics"), f"{where}.metrics") if "metrics" in value else ()
    if not metrics:
        raise GatePolicyError(f"{where}.metrics: name the online metrics the gate compares")
    window = OnlineEvidence.window
    if "window" in value:
        try:
            window = parse_duration(str(value["window"]))
        except ValueError as exc:
            raise GatePolicyError(f"{where}.window: {exc}") from None
    return OnlineEvidence(metrics, _int(value.get("min_executions", 30), f"{where}.min_executions", 2), window)


DEFAULT_POLICIES: dict[str, GatePolicy] = {
    "dev": GatePolicy(),
    "staging": GatePolicy.parse("no-regression"),
    "prod": GatePolicy.parse("no-regression"),
}


class GatePolicies(Mapping[str, GatePolicy]):
    """The gate policy per environment (a mapping), with optional per-agent overlays."""

    def __init__(self, environments: Mapping[str, GatePolicy] | None = None,
                 agents: Mapping[str, Mapping[str, GatePolicy]] | None = None) -> None:
        self.environments = dict(DEFAULT_POLICIES if environments is None else environments)
        self.agents = {name: dict(envs) for name, envs in (agents or {}).items()}

    def __getitem__(self, environment: str) -> GatePolicy:
        return self.environments[environment]

    def __iter__(self) -> Iterator[str]:
        return iter(self.environments)

    def __len__(self) -> int:
        return len(self.environments)

    def for_agent(self, agent_name: str | None, environment: str) -> GatePolicy:
        """The policy for ``agent_name`` in ``environment`` (its own entry if it has one)."""
        own = self.agents.get(agent_name or "", {})
        return own.get(environment) or self.environments.get(environment, GatePolicy())


def parse_policies(raw: str | None, strict: bool = False) -> GatePolicies:
    """The defaults overlaid with the value of ``AGENTOTEL_REGISTRY_GATE`` (``RegistrySettings.gate``):
    ``ENV=LEVEL,…`` or a YAML/JSON document (``GATE_POLICY_FORMAT``). A malformed value raises
    ``GatePolicyError`` with ``strict`` (commands: the user hears about it), else it is logged and the
    defaults apply (the defaults gate staging and prod on no regression)."""
    raw = (raw or "").strip()
    if not raw:
        return GatePolicies()
    try:
        return _parse_levels(raw) if _is_levels(raw) else _parse_document(raw)
    except GatePolicyError as exc:
        if strict:
            raise GatePolicyError(f"{GATE_ENV_VAR}: {exc}") from None
        logger.warning("%s is invalid (%s); using the default gate policies", GATE_ENV_VAR, exc)
        return GatePolicies()


def _is_levels(raw: str) -> bool:
    return "\n" not in raw and ":" not in raw and not raw.startswith("{")


def _parse_levels(raw: str) -> GatePolicies:
    policies = dict(DEFAULT_POLICIES)
    for part in filter(None, (p.strip() for p in raw.split(","))):
        env, sep, level = part.partition("=")
        if not sep or env.strip() not in DEFAULT_POLICIES:
            raise GatePolicyError(f"expected ENV=LEVEL with ENV in {', '.join(DEFAULT_POLICIES)}, got {part!r}")
        policies[env.strip()] = policies[env.strip()]._with_level(level)
    return GatePolicies(policies)


def _parse_document(raw: str) -> GatePolicies:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise GatePolicyError(f"not YAML or JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping):
        raise GatePolicyError("expected a mapping of environment to policy (and 'agents')")
    unknown = sorted(set(data) - set(DEFAULT_POLICIES) - {"agents"})
    if unknown:
        raise GatePolicyError(f"unknown environment(s) {', '.join(map(str, unknown))}; use {', '.join(DEFAULT_POLICIES)}")
    environments = {env: DEFAULT_POLICIES[env].overlay(data[env], env) if env in data else DEFAULT_POLICIES[env]
                    for env in DEFAULT_POLICIES}
    agents: dict[str, dict[str, GatePolicy]] = {}
    per_agent = data.get("agents") or {}
    if not isinstance(per_agent, Mapping):
        raise GatePolicyError("agents: expected a mapping of agent name to environments")
    for name, envs in per_agent.items():
        if not isinstance(envs, Mapping) or not set(envs) <= set(DEFAULT_POLICIES):
            raise GatePolicyError(f"agents.{name}: expected a mapping of environment ({', '.join(DEFAULT_POLICIES)}) to policy")
        agents[str(name)] = {env: environments[env].overlay(entry, f"agents.{name}.{env}") for env, entry in envs.items()}
    return GatePolicies(environments, agents)


def policies_from_env(environ: Mapping[str, str]) -> GatePolicies:
    """``parse_policies`` of ``AGENTOTEL_REGISTRY_GATE`` in ``environ`` (a mapping the caller passes)."""
    return parse_policies(environ.get(GATE_ENV_VAR))


class EvaluationStore(Protocol):
    """The questions the gate asks the evaluation component."""

    def completed_runs(self, agent_name: str, agent_version: str) -> list[evaluation_runs.RunInfo]: ...

    def compare_runs(self, current_run_id: str, baseline_run_id: str, detector: RegressionDetector) -> RegressionReport: ...

    def unlinked_hint(self, agent_name: str, agent_version: str) -> str: ...

    def online_samples(self, agent_name: str, agent_version: str, metrics: Sequence[str],
                       window: timedelta) -> Any: ...


class WarehouseEvaluationStore:
    """Adapter onto ``agentotel.evaluation.runs`` and ``agentotel.evaluation.online`` for one warehouse (the runs
    and scores of ``project``; None: of every project)."""

    def __init__(self, engine: Engine, project: str | None = None) -> None:
        self.engine = engine
        self.project = project

    def completed_runs(self, agent_name: str, agent_version: str) -> list[evaluation_runs.RunInfo]:
        return evaluation_runs.completed_runs(self.engine, agent_name, agent_version, project=self.project)

    def latest_completed_run(self, agent_name: str, agent_version: str) -> str | None:
        run_id = evaluation_runs.latest_completed_run(self.engine, agent_name, agent_version, self.project)
        return None if run_id is None else str(run_id)

    def compare_runs(self, current_run_id: str, baseline_run_id: str,
                     detector: RegressionDetector | None = None) -> RegressionReport:
        return evaluation_runs.compare_runs(self.engine, current_run_id, baseline_run_id, detector=detector,
                                            project=self.project)

    def unlinked_hint(self, agent_name: str, agent_version: str) -> str:
        """Why a version may have no run: the runs stored under other names or versions."""
        others = [(n, v) for n, v in evaluation_runs.run_agent_names(self.engine, project=self.project) if (n, v) != (agent_name, agent_version)]
        if not others:
            return ""
        named = ", ".join(f"{n or '?'}@{v or '(no version)'}" for n, v in others[:5])
        return f"; recent runs are stored as {named}"

    def online_samples(self, agent_name: str, agent_version: str, metrics: Sequence[str], window: timedelta) -> Any:
        return evaluation_online.online_samples(self.engine, agent_name, agent_version, metrics,
                                                since=utcnow() - window, project=self.project)


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
    suite: str | None = None
    suite_hash: str | None = None
    runs: tuple[str, ...] = ()
    untestable: tuple[str, ...] = ()
    policy_detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every check passed (before any override)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

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
            "policy_detail": self.policy_detail,
            "passed": self.passed,
            "overridden": self.override_reason is not None and not self.passed,
            "override_reason": self.override_reason,
            "baseline_version": self.baseline_version,
            "suite": self.suite,
            "suite_hash": self.suite_hash,
            "run_id": self.run_id,
            "runs": list(self.runs),
            "baseline_run_id": self.baseline_run_id,
            "untestable": list(self.untestable),
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


def _base_metric(comparison: Any) -> str:
    """The metric a tail or history check is about (``latency_ms.p95`` → ``latency_ms``)."""
    if comparison.check == "mean":
        return str(comparison.metric)
    return str(comparison.metric).rsplit(".", 1)[0]


class _Refused(Exception):
    """Evidence is missing: the check that says so ends the evaluation."""

    def __init__(self, check: GateCheck) -> None:
        super().__init__(check.detail)
        self.check = check


@dataclass
class PromotionGate:
    """Decides whether a version may enter an environment, by the policy for that agent and environment."""

    evaluations: EvaluationStore
    policies: Mapping[str, GatePolicy] = field(default_factory=GatePolicies)

    def __post_init__(self) -> None:
        if not isinstance(self.policies, GatePolicies):
            self.policies = GatePolicies(self.policies)

    def policy_for(self, environment: str, agent_name: str | None = None) -> GatePolicy:
        assert isinstance(self.policies, GatePolicies)
        return self.policies.for_agent(agent_name, environment)

    def evaluate(
        self, agent_name: str, version: str, environment: str, baseline_version: str | None,
        suite: str | None = None,
    ) -> GateDecision:
        """Check ``version`` against the policy and the currently active ``baseline_version``; ``suite``
        narrows the evidence to that suite (``registry promote --evaluate``)."""
        policy = self.policy_for(environment, agent_name)
        if suite is not None:
            policy = dataclasses.replace(policy, suite=suite)
        decision = GateDecision(agent_name, version, environment, policy.level, baseline_version,
                                policy_detail=policy.describe())
        if not policy.require_evaluation:
            return dataclasses.replace(
                decision, checks=(GateCheck("policy", True, f"{environment} requires no evaluation"),)
            )
        checks: list[GateCheck] = []
        try:
            decision = self._collect(policy, decision, checks)
        except _Refused as refused:
            checks.append(refused.check)
        except Exception as exc:  # noqa: BLE001 - any failure to get evidence refuses (fail closed)
            logger.warning("promotion gate: gathering evidence failed: %s", exc)
            checks.append(GateCheck("evidence", False, f"evaluation results unavailable: {exc}"))
        return dataclasses.replace(decision, checks=tuple(checks))

    def _collect(self, policy: GatePolicy, decision: GateDecision, checks: list[GateCheck]) -> GateDecision:
        name, version, environment = decision.agent_name, decision.version, decision.environment
        runs = self.evaluations.completed_runs(name, version)
        if not runs:
            hint = self.evaluations.unlinked_hint(name, version)
            raise _Refused(GateCheck(
                "evaluation", False,
                f"no completed evaluation run of {name}@{version}: runs are linked to a version by "
                f"'agentotel eval run SUITE --agent MOD:FN --agent-name {name} --agent-version {version}' "
                f"(or 'agentotel registry promote {name} {version} --to {environment} --evaluate SUITE --agent MOD:FN')"
                + hint))
        if policy.suite is not None:
            runs = [r for r in runs if r.benchmark_id == policy.suite]
            if not runs:
                raise _Refused(GateCheck("evaluation", False,
                                         f"no completed evaluation run of {name}@{version} on suite {policy.suite!r} "
                                         "(the policy's suite)"))
        newest = runs[0]
        on_suite = [r for r in runs if r.benchmark_id == newest.benchmark_id and r.suite_hash == newest.suite_hash]
        used = on_suite if policy.runs == "all" else on_suite[:1]
        decision = dataclasses.replace(decision, run_id=newest.id, suite=newest.benchmark_id,
                                       suite_hash=newest.suite_hash, runs=tuple(r.id for r in used))
        checks.append(GateCheck("evaluation", True, f"run {newest.id} on suite {newest.suite} ({newest.n_cases} cases)"
                                + (f"; {len(used)} runs of {version} on it count" if len(used) > 1 else "")))
        if newest.n_cases < policy.min_cases:  # recorded, and the comparison still says which metrics suffer
            checks.append(GateCheck("cases", False, f"run {newest.id} has {newest.n_cases} cases < {policy.min_cases} "
                                    "(the policy's min_cases)"))
        if not policy.block_regressions:
            return decision
        if decision.baseline_version is None:
            checks.append(GateCheck("regression", True, f"no version active in {environment} to compare with"))
            return decision
        baseline = decision.baseline_version
        baseline_runs = self.evaluations.completed_runs(name, baseline)
        same_suite = [r for r in baseline_runs if r.benchmark_id == newest.benchmark_id and r.suite_hash == newest.suite_hash]
        if not same_suite:
            other = sorted({r.suite for r in baseline_runs})
            raise _Refused(GateCheck(
                "regression", False,
                f"the active version {baseline} has no completed run on suite {newest.suite}"
                + (f" (its runs are on {', '.join(other)})" if other else "")
                + f"; evaluate {baseline} on that suite, or override"))
        baseline_run = same_suite[0]
        decision = dataclasses.replace(decision, baseline_run_id=baseline_run.id)
        detector = policy.detector()
        regressions: list[Any] = []
        untestable: list[str] = []
        for run in used:
            report = self.evaluations.compare_runs(run.id, baseline_run.id, detector)
            gated = set(policy.metrics) if policy.metrics else None
            for c in report.untestable:
                if gated is None or c.metric in gated or _base_metric(c) in gated:
                    untestable.append(f"{c.metric}: {c.untested_reason}" + (f" (run {run.id})" if len(used) > 1 else ""))
            found = [c for c in report.regressions if gated is None or c.metric in gated or _base_metric(c) in gated]
            if found:
                regressions += found
                checks.append(GateCheck(
                    "regression", False,
                    f"significant regression against {baseline} (run {baseline_run.id}) in run {run.id}: "
                    + ", ".join(_regression_name(r) for r in found)))
            if gated:
                present = {c.metric for c in report.comparisons}
                untestable += [f"{m}: missing in both runs" for m in sorted(gated - present)]
        decision = dataclasses.replace(decision, regressions=tuple(regressions), untestable=tuple(untestable))
        if untestable:
            checks.append(GateCheck("testable", False, "cannot be tested: " + "; ".join(untestable)))
        if not regressions:
            checks.append(GateCheck("regression", True, f"no significant regression against {baseline} "
                                    f"(run {baseline_run.id}, {len(used)} run(s) of {version} on suite {newest.suite})"))
        if policy.online is not None:
            checks.append(self._online(policy.online, name, version, baseline, detector))
        return decision

    def _online(self, evidence: OnlineEvidence, name: str, version: str, baseline: str,
                detector: RegressionDetector) -> GateCheck:
        """Production scores of the candidate against the active version's (online evaluation)."""
        window = f"{evidence.window.total_seconds() / 3600:g} h"
        candidate = self.evaluations.online_samples(name, version, evidence.metrics, evidence.window)
        active = self.evaluations.online_samples(name, baseline, evidence.metrics, evidence.window)
        short = []
        for metric in evidence.metrics:
            for who, samples in ((version, candidate), (baseline, active)):
                n = samples.metrics[metric].values.size if metric in samples.metrics else 0
                if n < evidence.min_executions:
                    short.append(f"{metric}: {who} has {n} scored executions < {evidence.min_executions} in {window}")
        if short:
            return GateCheck("online", False, "production evidence too thin: " + "; ".join(short))
        report = detector.detect_regressions(candidate, active, metrics=list(evidence.metrics))
        if report.untestable:  # fail closed, as for the suite's metrics (e.g. min_executions below 5)
            return GateCheck("online", False, "production scores cannot be tested: "
                             + "; ".join(f"{c.metric}: {c.untested_reason}" for c in report.untestable))
        if report.regressions:
            return GateCheck("online", False, f"production scores regressed against {baseline} over {window}: "
                             + ", ".join(c.metric for c in report.regressions))
        return GateCheck("online", True, f"production scores ({', '.join(evidence.metrics)}) hold against {baseline} "
                         f"over {window}")
