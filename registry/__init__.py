"""Agent registry: metadata, versions, promotion dev → staging → prod gated on evaluation, rollback.

    from agentotel.registry import AgentMetadata, AgentRegistry
    registry = AgentRegistry(engine)
    registry.register_agent(AgentMetadata("support-bot", "1.2.0", model_type="gpt-4o"), actor="ana")
    registry.versions.promote("support-bot", "1.2.0", "dev", actor="ana")

Read-only queries for dashboards live in ``agentotel.registry.queries`` (versions,
environments, deployments, changelog, audit log) and ``agentotel.registry.telemetry`` (discovered
versions, executions / cost / error rate per version and per environment).
"""

from agentotel.registry.errors import (
    AgentNotFound,
    DuplicateVersion,
    GateRefused,
    ImmutableField,
    InvalidMetadata,
    InvalidTransition,
    PromotionConflict,
    RegistryError,
    VersionNotFound,
)
from agentotel.registry.gate import (
    DEFAULT_POLICIES,
    EvaluationStore,
    GateCheck,
    GateDecision,
    GatePolicy,
    PromotionGate,
    WarehouseEvaluationStore,
    parse_policies,
    policies_from_env,
)
from agentotel.registry.metadata import AgentMetadata
from agentotel.registry.queries import (
    ENVIRONMENTS,
    AgentVersion,
    AuditEntry,
    ChangelogEntry,
    Deployment,
    EnvironmentState,
    audit_log,
    changelog,
    deployments,
    environment_states,
    list_agent_versions,
)
from agentotel.registry.registry import AgentRegistry
from agentotel.registry.telemetry import (
    EnvironmentOverview,
    VersionStats,
    discovered_versions,
    environment_overview,
    environment_stats,
    version_stats,
)
from agentotel.registry.versions import VersionManager

__all__ = [
    "DEFAULT_POLICIES",
    "ENVIRONMENTS",
    "AgentMetadata",
    "AgentNotFound",
    "AgentRegistry",
    "AgentVersion",
    "AuditEntry",
    "ChangelogEntry",
    "Deployment",
    "DuplicateVersion",
    "EnvironmentOverview",
    "EnvironmentState",
    "EvaluationStore",
    "GateCheck",
    "GateDecision",
    "GatePolicy",
    "GateRefused",
    "ImmutableField",
    "InvalidMetadata",
    "InvalidTransition",
    "PromotionConflict",
    "PromotionGate",
    "RegistryError",
    "VersionManager",
    "VersionNotFound",
    "VersionStats",
    "WarehouseEvaluationStore",
    "audit_log",
    "changelog",
    "deployments",
    "discovered_versions",
    "environment_overview",
    "environment_stats",
    "environment_states",
    "list_agent_versions",
    "parse_policies",
    "policies_from_env",
    "version_stats",
]
