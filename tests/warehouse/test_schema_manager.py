"""SchemaManager: Alembic-versioned create / migrate (up and down) / add_column / create_index."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, String, inspect

from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.schema_manager import SchemaManager

ROLLUPS = {"rollup_executions", "rollup_llm", "rollup_tools", "rollup_state"}


def test_versions_up_and_down(empty_url):
    engine = create_db_engine(empty_url)
    manager = SchemaManager(engine)
    assert "analytics_0001" in manager.history() and "0001" in manager.history()
    assert manager.migrate_to_version("analytics_0001") == {"analytics_0001"}
    tables = set(inspect(engine).get_table_names())
    assert ROLLUPS <= tables and "spans" in tables  # the branch brings the core schema it depends on
    assert manager.migrate_to_version("0001") == {"0001"}
    assert not ROLLUPS & set(inspect(engine).get_table_names())
    heads = manager.create_schema()
    assert any(head.startswith("analytics_") for head in heads)  # the analytics branch at its newest revision
    assert "0001" not in heads and manager.current_version() == heads
    with pytest.raises(Exception):  # noqa: B017 - alembic's own error for an unknown revision
        manager.migrate_to_version("no_such_revision")
    engine.dispose()


def test_add_column_and_index_are_idempotent(engine):
    manager = SchemaManager(engine)
    assert manager.add_column("spans", Column("region", String(32))) is True
    assert manager.add_column("spans", Column("region", String(32))) is False
    assert "region" in {c["name"] for c in inspect(engine).get_columns("spans")}
    assert manager.create_index("spans", ["region"]) is True
    assert manager.create_index("spans", ["region"]) is False
    assert "ix_spans_region" in {i["name"] for i in inspect(engine).get_indexes("spans")}
