"""Projects for the tenancy tests: rows of ``projects`` (as ``agentotel keys create --project`` makes them)."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from agentotel.warehouse.tenancy_models import Project


def make_projects(engine: Engine, *names: str) -> None:
    """Make the projects ``names`` (those that exist already are left alone)."""
    with engine.begin() as conn:
        have = set(conn.execute(select(Project.name)).scalars())
        for name in names:
            if name not in have:
                conn.execute(insert(Project).values(name=name))
