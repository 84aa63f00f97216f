"""Agent registry: metadata, versions, promotion dev → staging → prod gated on evaluation, rollback.

    from agentotel.registry import AgentMetadata, AgentRegistry
    registry = AgentRegistry(engine)
    registry.register_agent(AgentMetadata("support-bot", "1.2.0", model_type="gpt-4o"), actor="ana")
    registry.versions.promote("support-bot", "1.2.0", "dev", actor="ana")

Read-only queries for dashboards live in ``agentotel.registry.queries`` (versions,
environments, deployments, changelog, audit log) and ``agentotel.registry.telemetry`` (discovered
versions, executions / cost / error rate per version and per environment).

The names below are imported on first use, so ``agentotel registry`` (whose ``cli`` module sits in this
package) starts without the warehouse and evaluation stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AgentNotFound": "errors",
    "DuplicateVersion": "errors",
    "GateRefused": "errors",
    "ImmutableField": "errors",
    "InvalidMetadata": "errors",
    "InvalidTransition": "errors",
    "PromotionConflict": "errors",
    "RegistryError": "errors",
    "VersionNotFound": "errors",
    "DEFAULT_POLICIES": "gate",
    "EvaluationStore": "gate",
    "GateCheck": "gate",
    "GateDecision": "gate",
    "GatePolicy": "gate",
    "GatePolicies": "gate",
    "GatePolicyError": "gate",
    "OnlineEvidence": "gate",
    "PromotionGate": "gate",
    "WarehouseEvaluationStore": "gate",
    "parse_policies": "gate",
    "policies_from_env": "gate",
    "AgentMetadata": "metadata",
    "AgentVersion": "queries",
    "AuditEntry": "queries",
    "ChangelogEntry": "queries",
    "Deployment": "queries",
    "ENVIRONMENTS": "queries",
    "EnvironmentState": "queries",
    "audit_log": "queries",
    "changelog": "queries",
    "deployments": "queries",
    "environment_states": "queries",
    "list_agent_versions": "queries",
    "AgentRegistry": "registry",
    "EnvironmentOverview": "telemetry",
    "VersionStats": "telemetry",
    "discovered_versions": "telemetry",
    "environment_overview": "telemetry",
    "environment_stats": "telemetry",
    "version_stats": "telemetry",
    "VersionManager": "versions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentotel.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentotel.registry.{module}"), name)
