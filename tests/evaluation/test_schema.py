"""Online evaluation's models and its Alembic revision describe the same schema; the branch downgrades
cleanly and upgrades again, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import agentotel.warehouse.evaluation_models  # noqa: F401 - registers the tables on Base.metadata
from agentotel.warehouse.migrate import alembic_config, upgrade
from agentotel.warehouse.models import Base

TABLES = {"evaluation_results", "evaluation_online_claims", "evaluation_online_state"}


def _table_of(diff) -> str | None:
    if isinstance(diff, list):  # modify_* entries come as lists of tuples
        return _table_of(diff[0])
    for item in diff[1:]:
        table = getattr(item, "table", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if isinstance(item, str) and item in TABLES:
            return item
        if getattr(item, "name", None) in TABLES:
            return item.name
    return None


def test_models_match_the_migration(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _table_of(d) in TABLES]
    assert diffs == []
    assert TABLES <= set(inspect(engine).get_table_names())


def test_evaluation_branch_downgrades_and_upgrades_again(engine):
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "evaluation@base")
    assert not TABLES & set(inspect(engine).get_table_names())
    assert "evaluation_runs" in inspect(engine).get_table_names()
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
