"""The registry's models and its Alembic revision describe the same schema; the revision downgrades cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import agentotel.warehouse.registry_models  # noqa: F401 - registers the tables on Base.metadata
from agentotel.warehouse.migrate import alembic_config, upgrade
from agentotel.warehouse.models import Base

REGISTRY_TABLES = {"registry_environments", "registry_deployments", "registry_changelog", "registry_audit_log"}


def _table_of(diff) -> str | None:
    if isinstance(diff, list):  # modify_* entries come as lists of tuples
        return _table_of(diff[0])
    for item in diff[1:]:
        name = getattr(item, "name", None)
        table = getattr(item, "table", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if isinstance(item, str) and item in REGISTRY_TABLES:
            return item
        if name in REGISTRY_TABLES:
            return name
    return None


def test_models_match_the_migration(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _table_of(d) in REGISTRY_TABLES]
    assert diffs == []
    assert REGISTRY_TABLES <= set(inspect(engine).get_table_names())


def test_registry_branch_downgrades_and_upgrades_again(engine):
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "registry@base")
    assert not REGISTRY_TABLES & set(inspect(engine).get_table_names())
    assert "agents" in inspect(engine).get_table_names()
    upgrade(engine)
    assert REGISTRY_TABLES <= set(inspect(engine).get_table_names())
