"""Errors of the agent registry: each one is a user error with a message that says what to do."""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """Base class: a registry operation was refused; nothing was changed."""


class InvalidMetadata(RegistryError, ValueError):
    """Metadata (name, semantic version, fields) failed validation."""


class AgentNotFound(RegistryError, LookupError):
    """No agent of that name is known to the registry or to telemetry."""


class VersionNotFound(RegistryError, LookupError):
    """The agent exists but not in that version."""


class DuplicateVersion(RegistryError):
    """The version is already registered; registered versions are immutable."""


class ImmutableField(RegistryError):
    """An update tried to change a field that is fixed once a version is registered."""


class InvalidTransition(RegistryError):
    """A promotion or rollback that the environment pipeline does not allow."""


class PromotionConflict(RegistryError):
    """The environment changed while the operation ran (another promotion won); retry after a look."""


class GateRefused(RegistryError):
    """The promotion gate refused the version; ``decision`` says which checks failed."""

    def __init__(self, message: str, decision: Any) -> None:
        super().__init__(message)
        self.decision = decision
