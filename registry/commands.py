"""What ``agentotel registry register | list | show | promote | rollback | history`` do (the arguments are
declared in ``registry.cli``). A registry error or bad input ends in ``CommandError``: one line, exit 2; a
promotion the gate refuses prints its checks and exits ``EXIT_GATE_REFUSED`` (3)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import Engine

from agentotel.core.errors import CommandError
from agentotel.core.settings import DatabaseSettings, EvaluationSettings, RegistrySettings
from agentotel.evaluation.agents import AgentLoadError, CallableAgent, load_callable
from agentotel.evaluation.benchmark import BenchmarkSuite
from agentotel.evaluation.factory import EvaluatorConfigError, build_evaluators
from agentotel.evaluation.power import power_guidance
from agentotel.evaluation.suite import SuiteError, load_suite
from agentotel.registry.errors import AgentNotFound, GateRefused, InvalidTransition, RegistryError
from agentotel.registry.gate import parse_policies
from agentotel.registry.metadata import AgentMetadata
from agentotel.registry.queries import (
    agent_exists,
    audit_log,
    changelog,
    environment_states,
    get_agent_version,
)
from agentotel.registry.registry import AgentRegistry
from agentotel.registry.telemetry import environment_overview, version_stats
from agentotel.registry.versions import VersionManager
from agentotel.warehouse.engine import open_warehouse
from agentotel.warehouse.projects import require_project

EXIT_GATE_REFUSED = 3  # distinct from 2 (usage, bad input) and from eval's 1 (a regression)


def _engine(args: argparse.Namespace) -> Engine:
    return open_warehouse(DatabaseSettings.resolve(args))


def _versions(engine: Engine, settings: RegistrySettings) -> VersionManager:
    """The version manager of the project, its gate's policies from ``AGENTOTEL_REGISTRY_GATE`` (a malformed
    policy is an error here, not a silent fallback)."""
    return VersionManager(engine, policies=parse_policies(settings.gate, strict=True), project=settings.project)


Action = Callable[[Engine, RegistrySettings], int]


def _run(args: argparse.Namespace, action: Action) -> int:
    """``action(engine, settings)`` on the opened warehouse with the ``RegistrySettings`` resolved once; every
    action acts in ``settings.project`` (``--project`` > ``AGENTOTEL_PROJECT`` > ``default``), checked here."""
    settings = RegistrySettings.resolve(args)
    engine = _engine(args)
    try:
        require_project(engine, settings.project)
        return action(engine, settings)
    except RegistryError as exc:  # an unknown project is a CommandError already
        raise CommandError(str(exc)) from None
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_plain(value), indent=2, sort_keys=True))


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[("-" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


# -- handlers ---------------------------------------------------------------------------------------
def _metadata_from_args(args: argparse.Namespace) -> AgentMetadata:
    data: dict[str, Any] = {}
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CommandError(f"cannot read metadata file {args.file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise CommandError(f"metadata file {args.file} must hold a mapping")
        data.update(loaded)
    data["name"], data["version"] = args.name, args.version
    for key in ("model_type", "provider", "description"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.capability is not None:
        data["capabilities"] = args.capability
    if args.tag is not None:
        data["tags"] = args.tag
    if args.dependency is not None:
        data["dependencies"] = {**(data.get("dependencies") or {}), **_pairs(args.dependency, "--dependency", json_values=False)}
    if args.config is not None:
        data["configuration"] = {**(data.get("configuration") or {}), **_pairs(args.config, "--config", json_values=True)}
    return AgentMetadata.from_dict(data)


def _pairs(items: list[str], flag: str, json_values: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"{flag} expects KEY=VALUE, got {item!r}")
        if json_values:
            try:
                out[key.strip()] = json.loads(value)
            except ValueError:
                out[key.strip()] = value
        else:
            out[key.strip()] = value.strip()
    return out


def cmd_register(args: argparse.Namespace) -> int:
    """``registry register NAME VERSION``: register (or adopt a discovered) version."""

    def action(engine: Engine, settings: RegistrySettings) -> int:
        metadata = _metadata_from_args(args)
        seen = get_agent_version(engine, metadata.name, metadata.version)
        agent = AgentRegistry(engine, project=settings.project).register_agent(metadata, actor=settings.who, changelog=args.changelog)
        adopted = seen is not None and not seen.registered
        print(f"registered {agent.name}@{agent.version}" + (" (adopted the version seen in telemetry)" if adopted else ""))
        return 0

    return _run(args, action)


def cmd_list(args: argparse.Namespace) -> int:
    """``registry list``: agents and their versions, with where each is active."""

    def action(engine: Engine, settings: RegistrySettings) -> int:
        versions = AgentRegistry(engine, project=settings.project).list_agents(
            args.name, include_discovered=not args.registered_only)
        active: dict[tuple[str, str], list[str]] = {}
        for state in environment_states(engine, args.name, settings.project):
            active.setdefault((state.agent_name, state.version), []).append(state.environment)
        if args.json:
            _print_json([{**_plain(v), "environments": active.get((v.name, v.version), [])} for v in versions])
            return 0
        if not versions:
            print("no agents yet: register one, or point an instrumented agent at the receiver")
            return 0
        _table(
            ["AGENT", "VERSION", "SOURCE", "MODEL", "ACTIVE IN", "LAST SEEN"],
            [
                [v.name, v.version or "(unknown)", v.source, v.model_type, ",".join(active.get((v.name, v.version), [])) or None, _time(v.last_seen_at)]
                for v in versions
            ],
        )
        return 0

    return _run(args, action)


def cmd_show(args: argparse.Namespace) -> int:
    """``registry show NAME [VERSION]``: environments, versions and stats, or one version in detail."""

    def action(engine: Engine, settings: RegistrySettings) -> int:
        project = settings.project
        registry = AgentRegistry(engine, project=project)
        if args.version is not None:
            agent = registry.get_agent(args.name, args.version)
            stats = [s for s in version_stats(engine, args.name, project=project) if s.version == args.version]
            entries = changelog(engine, args.name, args.version, project)
            if args.json:
                _print_json({"agent": agent, "changelog": entries, "stats": stats[0] if stats else None})
                return 0
            for key in ("name", "version", "source", "model_type", "provider", "description"):
                print(f"{key}: {getattr(agent, key) or '-'}")
            print(f"capabilities: {', '.join(agent.capabilities) or '-'}")
            print(f"tags: {', '.join(agent.tags) or '-'}")
            print(f"dependencies: {json.dumps(agent.dependencies) if agent.dependencies else '-'}")
            print(f"configuration: {json.dumps(agent.configuration, sort_keys=True) if agent.configuration else '-'}")
            print(f"registered: {_time(agent.registered_at)} by {agent.registered_by or '-'}")
            if stats:
                s = stats[0]
                rate = f"{s.error_rate:.1%}" if s.error_rate is not None else "-"
                print(f"executions: {s.executions}  errors: {s.failures} ({rate})  cost: ${s.cost_usd:.4f}")
            for entry in entries:
                print(f"changelog {_time(entry.created_at)} {entry.author}: {entry.entry}")
            return 0
        versions = registry.versions.list_versions(args.name)
        overview = environment_overview(engine, args.name, project=project)
        stats = version_stats(engine, args.name, project=project)
        if args.json:
            _print_json({"versions": versions, "environments": overview, "stats": stats})
            return 0
        print(f"agent {args.name}")
        _table(
            ["ENV", "ACTIVE", "SINCE", "BY", "EXECUTIONS", "ERROR RATE", "COST USD"],
            [
                [
                    o.environment,
                    o.active_version,
                    _time(o.since),
                    o.updated_by,
                    o.stats.executions if o.stats else None,
                    f"{o.stats.error_rate:.1%}" if o.stats and o.stats.error_rate is not None else None,
                    f"{o.stats.cost_usd:.4f}" if o.stats else None,
                ]
                for o in overview
            ],
        )
        print()
        _table(
            ["VERSION", "SOURCE", "EXECUTIONS", "ERROR RATE", "COST USD", "AVG MS", "LAST RUN"],
            [
                [
                    s.version or "(unknown)",
                    s.source,
                    s.executions,
                    f"{s.error_rate:.1%}" if s.error_rate is not None else None,
                    f"{s.cost_usd:.4f}",
                    f"{s.avg_duration_ms:.0f}" if s.avg_duration_ms is not None else None,
                    _time(s.last_execution),
                ]
                for s in stats
            ],
        )
        return 0

    return _run(args, action)


def cmd_promote(args: argparse.Namespace) -> int:
    """``registry promote NAME VERSION --to ENV [--evaluate SUITE --agent MOD:FN]``: gated; with
    ``--evaluate`` the suite is run against the agent first, linked to NAME@VERSION, and the gate decides on
    runs of that suite. A refusal prints the gate's checks and exits ``EXIT_GATE_REFUSED``."""

    def action(engine: Engine, settings: RegistrySettings) -> int:
        kwargs: dict[str, Any] = {}
        if args.expect_active is not None:
            kwargs["expected_active"] = None if args.expect_active.lower() == "none" else args.expect_active
        versions = _versions(engine, settings)
        if args.evaluate:
            kwargs["suite"] = _evaluate(engine, versions, args, settings.project)
        elif args.agent:
            raise CommandError("--agent is used with --evaluate SUITE")
        try:
            deployment = versions.promote(
                args.name,
                args.version,
                args.environment,
                actor=settings.who,
                reason=args.reason,
                override_reason=args.override_reason,
                **kwargs,
            )
        except GateRefused as exc:
            for check in exc.decision.checks:
                print(f"  [{'ok' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
            print(f"agentotel: error: {exc}", file=sys.stderr)
            return EXIT_GATE_REFUSED
        gate = deployment.gate or {}
        note = " (gate overridden)" if gate.get("overridden") else ""
        evidence = f"; evidence: run {gate['run_id']} on suite {gate.get('suite')}" if gate.get("run_id") else ""
        print(
            f"promoted {args.name}@{deployment.version} to {deployment.environment}"
            f" (was {deployment.previous_version or 'empty'}){note}{evidence}"
        )
        return 0

    return _run(args, action)


def _evaluate(engine: Engine, versions: VersionManager, args: argparse.Namespace, project: str) -> str:
    """Run ``--evaluate SUITE`` against ``--agent``, stored as NAME@VERSION; returns the suite's name."""
    if not args.agent:
        raise CommandError("--evaluate needs --agent MOD:FN (the agent callable to evaluate)")
    version = versions.list_versions(args.name)  # AgentNotFound for an unknown agent
    if not any(v.version == args.version and v.registered for v in version):
        raise InvalidTransition(f"{args.name}@{args.version} is not registered; register it first")
    try:
        suite = load_suite(args.evaluate)
        fn = load_callable(args.agent)
        evaluators = build_evaluators(args.evaluators or suite.evaluators, settings=EvaluationSettings.resolve(args))
    except (SuiteError, AgentLoadError, EvaluatorConfigError) as exc:
        raise CommandError(str(exc)) from None
    agent = CallableAgent(fn, name=args.name, version=args.version, timeout=args.timeout)
    run = BenchmarkSuite(evaluators, concurrency=args.concurrency, engine=engine, show_progress=False,
                         project=project).run(suite, agent)
    print(f"evaluated {args.name}@{args.version} on suite {suite.name}: run {run.run_id}, {len(run.cases)} case(s), "
          f"{run.errors} error(s)")
    # the thresholds the gate will compare with: the policy's for this agent and environment
    detector = versions.gate.policy_for(args.environment, args.name).detector()
    for row in power_guidance(run, detector):
        if row.warning():
            print(f"warning: {row.warning()}", file=sys.stderr)
    return suite.name


def cmd_rollback(args: argparse.Namespace) -> int:
    """``registry rollback NAME --env ENV``: back to the previous (or ``--to``) version."""

    def action(engine: Engine, settings: RegistrySettings) -> int:
        deployment = _versions(engine, settings).rollback(
            args.name, args.environment, actor=settings.who, reason=args.reason, to_version=args.to_version
        )
        print(f"rolled back {args.name} in {deployment.environment}: {deployment.previous_version} → {deployment.version}")
        return 0

    return _run(args, action)


def cmd_history(args: argparse.Namespace) -> int:
    """``registry history NAME``: the audit log of an agent."""

    def action(engine: Engine, settings: RegistrySettings) -> int:
        if not agent_exists(engine, args.name, settings.project):
            raise AgentNotFound(f"no agent named {args.name!r} (neither registered nor seen in telemetry)")
        entries = audit_log(engine, name=args.name, environment=args.environment, limit=args.limit,
                            project=settings.project)
        if args.json:
            _print_json(entries)
            return 0
        if not entries:
            print(f"no changes recorded for {args.name}")
            return 0
        _table(
            ["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "CHANGE", "REASON"],
            [
                [_time(e.at), e.actor, e.action, e.outcome, e.target, _change(e.before, e.after), _reason(e)]
                for e in entries
            ],
        )
        return 0

    return _run(args, action)


def _reason(entry: Any) -> str | None:
    """The actor's reason; for a refused promotion also why the gate refused (its failed checks)."""
    gate = (entry.after or {}).get("gate") if isinstance(entry.after, dict) else None
    if entry.outcome != "refused" or not isinstance(gate, dict):
        return entry.reason
    failed = "; ".join(str(c.get("detail")) for c in gate.get("checks") or [] if not c.get("passed"))
    refused = f"gate: {failed}" if failed else "gate refused"
    return f"{entry.reason} ({refused})" if entry.reason else refused


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str | None:
    before, after = before or {}, after or {}
    if "version" in after or "version" in before:
        return f"{before.get('version') or 'empty'} → {after.get('version') or 'empty'}"
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return ", ".join(changed) or None
