"""``agentotel registry register | list | show | promote | rollback | history``."""

from __future__ import annotations

import argparse
import getpass
import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from agentotel.core.cli_args import add_database_argument
from agentotel.core.settings import ACTOR_ENV as ACTOR_ENV_VAR


def register(sub: argparse._SubParsersAction) -> None:
    reg = sub.add_parser("registry", help="agent versions, promotion dev → staging → prod, rollback, history")
    add_database_argument(reg)
    actions = reg.add_subparsers(dest="registry_command", required=True, metavar="ACTION")

    p = actions.add_parser("register", help="register a version (adopts one discovered in telemetry)")
    p.add_argument("name")
    p.add_argument("version", help="semantic version, e.g. 1.2.0")
    p.add_argument("--file", help="metadata as YAML or JSON (fields of AgentMetadata); flags override it")
    p.add_argument("--model-type")
    p.add_argument("--provider")
    p.add_argument("--description")
    p.add_argument("--capability", action="append", default=None, help="repeatable")
    p.add_argument("--tag", action="append", default=None, help="repeatable")
    p.add_argument("--dependency", action="append", default=None, metavar="NAME=CONSTRAINT", help="repeatable")
    p.add_argument("--config", action="append", default=None, metavar="KEY=VALUE", help="repeatable; VALUE as JSON if it parses")
    p.add_argument("--changelog", help="changelog entry for this version")
    _actor(p)
    _db(p)
    p.set_defaults(handler=_register)

    p = actions.add_parser("list", help="agents and their versions (registered and discovered)")
    p.add_argument("--name")
    p.add_argument("--registered-only", action="store_true")
    p.add_argument("--json", action="store_true")
    _db(p)
    p.set_defaults(handler=_list)

    p = actions.add_parser("show", help="an agent (environments, versions, stats) or one version in detail")
    p.add_argument("name")
    p.add_argument("version", nargs="?")
    p.add_argument("--json", action="store_true")
    _db(p)
    p.set_defaults(handler=_show)

    p = actions.add_parser("promote", help="make a version active in an environment (gated)")
    p.add_argument("name")
    p.add_argument("version")
    p.add_argument("--to", required=True, dest="environment", choices=("dev", "staging", "prod"))
    p.add_argument("--reason", help="why (recorded in the audit log)")
    p.add_argument("--override", dest="override_reason", metavar="REASON", help="promote although the gate refuses; audited")
    p.add_argument("--expect-active", metavar="VERSION", help="fail unless VERSION ('none' for nothing) is active now")
    _actor(p)
    _db(p)
    p.set_defaults(handler=_promote)

    p = actions.add_parser("rollback", help="return an environment to its previous (or a named) version")
    p.add_argument("name")
    p.add_argument("--env", required=True, dest="environment", choices=("dev", "staging", "prod"))
    p.add_argument("--to", dest="to_version", metavar="VERSION", help="a version that was active there before")
    p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    _actor(p)
    _db(p)
    p.set_defaults(handler=_rollback)

    p = actions.add_parser("history", help="audit log of an agent: who changed what, when and why")
    p.add_argument("name")
    p.add_argument("--env", dest="environment", choices=("dev", "staging", "prod"))
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    _db(p)
    p.set_defaults(handler=_history)


def _actor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--actor", help=f"who makes the change (default: ${ACTOR_ENV_VAR} or the login name)")


def _db(p: argparse.ArgumentParser) -> None:
    """``--db`` also after the action (``agentotel registry list --db URL``)."""
    add_database_argument(p, repeat=True)


# -- plumbing ---------------------------------------------------------------------------------------
def _engine(args: argparse.Namespace):
    from agentotel.core.settings import DatabaseSettings
    from agentotel.warehouse.engine import open_warehouse

    return open_warehouse(DatabaseSettings.resolve(args))


def _versions(engine, settings):
    """The version manager, its gate's policies from ``AGENTOTEL_REGISTRY_GATE``."""
    from agentotel.registry import VersionManager, parse_policies

    return VersionManager(engine, policies=parse_policies(settings.gate))


def _who(settings) -> str:
    """``--actor`` > ``AGENTOTEL_ACTOR`` (``RegistrySettings.actor``) > the login name."""
    if settings.actor:
        return settings.actor
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): still name the change
        return "unknown"


def _run(args: argparse.Namespace, action) -> int:
    """``action(engine, settings)`` on the opened warehouse with the ``RegistrySettings`` resolved once."""
    from agentotel.core.errors import CommandError
    from agentotel.core.settings import RegistrySettings
    from agentotel.registry.errors import RegistryError

    settings = RegistrySettings.resolve(args)
    engine = _engine(args)
    try:
        return action(engine, settings)
    except RegistryError as exc:
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
def _metadata_from_args(args: argparse.Namespace):
    from agentotel.core.errors import CommandError
    from agentotel.registry.metadata import AgentMetadata

    data: dict[str, Any] = {}
    if args.file:
        import yaml

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
    from agentotel.core.errors import CommandError

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


def _register(args: argparse.Namespace) -> int:
    from agentotel.registry import AgentRegistry
    from agentotel.registry.queries import get_agent_version

    def action(engine, settings) -> int:
        metadata = _metadata_from_args(args)
        seen = get_agent_version(engine, metadata.name, metadata.version)
        agent = AgentRegistry(engine).register_agent(metadata, actor=_who(settings), changelog=args.changelog)
        adopted = seen is not None and not seen.registered
        print(f"registered {agent.name}@{agent.version}" + (" (adopted the version seen in telemetry)" if adopted else ""))
        return 0

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    from agentotel.registry import AgentRegistry, environment_states

    def action(engine, settings) -> int:
        versions = AgentRegistry(engine).list_agents(args.name, include_discovered=not args.registered_only)
        active: dict[tuple[str, str], list[str]] = {}
        for state in environment_states(engine, args.name):
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


def _show(args: argparse.Namespace) -> int:
    from agentotel.registry import AgentRegistry, changelog, environment_overview, version_stats

    def action(engine, settings) -> int:
        registry = AgentRegistry(engine)
        if args.version is not None:
            agent = registry.get_agent(args.name, args.version)
            stats = [s for s in version_stats(engine, args.name) if s.version == args.version]
            entries = changelog(engine, args.name, args.version)
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
        overview = environment_overview(engine, args.name)
        stats = version_stats(engine, args.name)
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


def _promote(args: argparse.Namespace) -> int:
    from agentotel.registry import GateRefused

    def action(engine, settings) -> int:
        kwargs: dict[str, Any] = {}
        if args.expect_active is not None:
            kwargs["expected_active"] = None if args.expect_active.lower() == "none" else args.expect_active
        try:
            deployment = _versions(engine, settings).promote(
                args.name,
                args.version,
                args.environment,
                actor=_who(settings),
                reason=args.reason,
                override_reason=args.override_reason,
                **kwargs,
            )
        except GateRefused as exc:
            for check in exc.decision.checks:
                print(f"  [{'ok' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
            raise
        gate = deployment.gate or {}
        note = " (gate overridden)" if gate.get("overridden") else ""
        print(
            f"promoted {args.name}@{deployment.version} to {deployment.environment}"
            f" (was {deployment.previous_version or 'empty'}){note}"
        )
        return 0

    return _run(args, action)


def _rollback(args: argparse.Namespace) -> int:
    def action(engine, settings) -> int:
        deployment = _versions(engine, settings).rollback(
            args.name, args.environment, actor=_who(settings), reason=args.reason, to_version=args.to_version
        )
        print(f"rolled back {args.name} in {deployment.environment}: {deployment.previous_version} → {deployment.version}")
        return 0

    return _run(args, action)


def _history(args: argparse.Namespace) -> int:
    from agentotel.registry import AgentNotFound, audit_log
    from agentotel.registry.queries import agent_exists

    def action(engine, settings) -> int:
        if not agent_exists(engine, args.name):
            raise AgentNotFound(f"no agent named {args.name!r} (neither registered nor seen in telemetry)")
        entries = audit_log(engine, name=args.name, environment=args.environment, limit=args.limit)
        if args.json:
            _print_json(entries)
            return 0
        if not entries:
            print(f"no changes recorded for {args.name}")
            return 0
        _table(
            ["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "CHANGE", "REASON"],
            [
                [_time(e.at), e.actor, e.action, e.outcome, e.target, _change(e.before, e.after), e.reason]
                for e in entries
            ],
        )
        return 0

    return _run(args, action)


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str | None:
    before, after = before or {}, after or {}
    if "version" in after or "version" in before:
        return f"{before.get('version') or 'empty'} → {after.get('version') or 'empty'}"
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return ", ".join(changed) or None
