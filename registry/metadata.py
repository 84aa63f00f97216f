"""Agent metadata (design document's ``AgentMetadata``) with validation.

A registered version is identified by ``name`` and a semantic version (https://semver.org, validated
with the ``semver`` package). Model, provider, capabilities, dependencies and configuration describe
what the version *is* and never change once registered; ``description`` and ``tags`` are labels that
may be edited later (``AgentRegistry.update_agent``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import semver

from agentotel.core.secrets import redact_secrets
from agentotel.registry.errors import InvalidMetadata

NAME_MAX = 255
VERSION_MAX = 64
IMMUTABLE_FIELDS = ("model_type", "provider", "capabilities", "dependencies", "configuration")
MUTABLE_FIELDS = ("description", "tags")


def validate_name(name: Any) -> str:
    """A non-empty agent name of at most 255 printable characters, stripped."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidMetadata("agent name must be a non-empty string")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise InvalidMetadata(f"agent name is longer than {NAME_MAX} characters")
    if not name.isprintable():
        raise InvalidMetadata(f"agent name {name!r} contains control characters")
    return name


def validate_version(version: Any) -> str:
    """``version`` if it is a semantic version such as ``1.4.0`` or ``2.0.0-rc.1+build.7``."""
    if not isinstance(version, str) or not semver.Version.is_valid(version.strip()):
        raise InvalidMetadata(
            f"version {version!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.2.0)"
        )
    version = version.strip()
    if len(version) > VERSION_MAX:
        raise InvalidMetadata(f"version is longer than {VERSION_MAX} characters")
    return version


def _string_list(value: Iterable[Any] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidMetadata(f"{what} must be a list of strings")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidMetadata(f"{what} must be a list of non-empty strings, got {item!r}")
        if item.strip() not in items:
            items.append(item.strip())
    return tuple(items)


def _json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidMetadata(f"{what} must be a mapping")
    try:
        text = json.dumps(dict(value), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidMetadata(f"{what} must be JSON (strings, numbers, lists, mappings): {exc}") from None
    return json.loads(text)


def _dependencies(value: Mapping[str, Any] | None) -> dict[str, str]:
    deps = _json_object(value, "dependencies")
    for key, spec in deps.items():
        if not key.strip() or not isinstance(spec, str):
            raise InvalidMetadata(f"dependency {key!r} must map a name to a version constraint string")
    return deps


@dataclass(frozen=True)
class AgentMetadata:
    """What one version of an agent is: identity, model, capabilities, dependencies, configuration."""

    name: str
    version: str
    model_type: str | None = None
    provider: str | None = None
    capabilities: tuple[str, ...] = ()
    dependencies: dict[str, str] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", validate_name(self.name))
        set_(self, "version", validate_version(self.version))
        for attr in ("model_type", "provider", "description"):
            value = getattr(self, attr)
            if value is not None and not isinstance(value, str):
                raise InvalidMetadata(f"{attr} must be a string")
            set_(self, attr, (value.strip() or None) if isinstance(value, str) else None)
        set_(self, "capabilities", _string_list(self.capabilities, "capabilities"))
        set_(self, "tags", _string_list(self.tags, "tags"))
        set_(self, "dependencies", _dependencies(self.dependencies))
        set_(self, "configuration", _json_object(self.configuration, "configuration"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentMetadata:
        """Build from a mapping (a YAML/JSON file); unknown keys are an error."""
        known = {f.name for f in fields(cls)} - {"created_at", "updated_at"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidMetadata(f"unknown metadata field(s): {', '.join(unknown)}")
        return cls(**dict(data))

    @classmethod
    def from_version(cls, agent: Any) -> AgentMetadata:
        """The metadata of a registered ``AgentVersion`` (as returned by ``AgentRegistry.get_agent``)."""
        if getattr(agent, "source", None) != "registry":
            raise InvalidMetadata(f"{agent.name}@{agent.version} was discovered in telemetry and has no metadata")
        return cls(
            name=agent.name,
            version=agent.version,
            model_type=agent.model_type,
            provider=agent.provider,
            capabilities=agent.capabilities,
            dependencies=agent.dependencies,
            configuration=agent.configuration,
            tags=agent.tags,
            description=agent.description,
            created_at=agent.registered_at or agent.created_at,
            updated_at=agent.updated_at,
        )

    def with_changes(self, **changes: Any) -> AgentMetadata:
        return replace(self, **changes)

    def stored_meta(self) -> dict[str, Any]:
        """The JSON stored in ``agents.metadata``: secrets in the configuration are redacted."""
        return {
            "capabilities": list(self.capabilities),
            "dependencies": dict(self.dependencies),
            "configuration": redact_secrets(self.configuration),
            "tags": list(self.tags),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (timestamps as ISO 8601), secrets redacted."""
        return {
            "name": self.name,
            "version": self.version,
            "model_type": self.model_type,
            "provider": self.provider,
            **self.stored_meta(),
            "description": self.description,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }
