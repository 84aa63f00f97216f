"""DatabaseManager and `agentotel db`: migrate, backup → restore into an empty database (across dialects)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select

from agentotel.processors.records import SpanBatch
from agentotel.processors.writer import WarehouseWriter
from agentotel.warehouse.manager import DatabaseManager
from agentotel.warehouse.models import AgentExecution, Span
from tests.conftest import drop_postgres_database, new_postgres_database
from tests.processors.test_writer import agent_trace


def table_rows(engine, model) -> list:
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(select(model)).all())


@pytest.mark.parametrize("target", ["sqlite", "postgresql"])
def test_backup_restores_into_an_empty_database_of_either_dialect(engine, db_url, tmp_path, target):
    WarehouseWriter(engine).consume(SpanBatch(spans=agent_trace("d" * 32) + agent_trace("e" * 32)))
    path = tmp_path / "backup.jsonl.gz"
    counts = DatabaseManager(db_url).backup(path)
    assert counts["spans"] == 16 and counts["agent_executions"] == 4

    target_url = f"sqlite:///{tmp_path}/restored.db" if target == "sqlite" else new_postgres_database(migrated=False)
    try:
        restored = DatabaseManager(target_url)
        restored_counts = restored.restore(path)
        assert restored_counts["spans"] == 16
        for model in (Span, AgentExecution):
            assert table_rows(restored.engine, model) == table_rows(engine, model)
        with pytest.raises(ValueError, match="empty database"):
            restored.restore(path)
        restored.engine.dispose()
    finally:
        if target == "postgresql":
            drop_postgres_database(target_url)


@pytest.mark.slow
def test_db_cli_upgrade_backup_restore(tmp_path):
    source, target, backup = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db", tmp_path / "b.jsonl.gz"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "agentotel", "--log-level", "WARNING", *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert "schema at" in cli("db", "--db", source, "upgrade").stdout
    assert cli("db", "--db", source, "backup", str(backup)).returncode == 0
    result = cli("db", "--db", target, "restore", str(backup))
    assert result.returncode == 0 and "restored" in result.stdout
    bad = cli("db", "--db", source, "cleanup", "--older-than", "soon")
    assert bad.returncode == 2 and "not a duration: 'soon'" in bad.stderr
