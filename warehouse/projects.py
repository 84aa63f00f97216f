"""The project a command acts in: checked once at the edge (``eval``, ``alerts``, ``registry``)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from agentotel.core.errors import CommandError
from agentotel.core.projects import DEFAULT_PROJECT, check_project_name
from agentotel.warehouse.tenancy_models import Project


class UnknownProjectError(CommandError):
    """A project name that is invalid or names no project of the warehouse: a ``CommandError``, so the command
    line prints it as one line and exits with status 2."""


def require_project(engine: Engine, name: str) -> str:
    """``name`` if it is a project of the warehouse (``default`` always is); ``UnknownProjectError`` otherwise."""
    try:
        check_project_name(name)
    except ValueError as exc:
        raise UnknownProjectError(str(exc)) from None
    if name == DEFAULT_PROJECT:
        return name
    with engine.connect() as conn:
        found = conn.execute(select(Project.name).where(Project.name == name)).first()
    if found is None:
        raise UnknownProjectError(f"unknown project {name!r} (projects are made with 'agentotel keys create --project')")
    return name


def only_default_project(engine: Engine) -> bool:
    """Whether the warehouse has no project but ``default`` (then every row is the default project's)."""
    with engine.connect() as conn:
        return conn.execute(select(Project.name).where(Project.name != DEFAULT_PROJECT).limit(1)).first() is None
