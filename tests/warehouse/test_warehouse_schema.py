"""The migrated warehouse holds every column and index of the design document's "Core Tables", on SQLite
and PostgreSQL (the SQL below is copied verbatim from ``seed/agent-monitoring-architecture.md``)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, inspect
from sqlalchemy.dialects.postgresql import JSONB

from agentotel.warehouse.migrate import current_revisions, upgrade

CORE_TABLES_SQL = """
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    model_type TEXT,
    provider TEXT,
    metadata JSONB,
    created_at TIMESTAMP,
    updated_at TIMESTAMP,
    UNIQUE(name, version)
);

CREATE TABLE agent_executions (
    id TEXT PRIMARY KEY,
    agent_id TEXT REFERENCES agents(id),
    timestamp TIMESTAMP,
    input TEXT,
    output TEXT,
    duration_ms FLOAT,
    tokens_used INT,
    success BOOLEAN,
    error_message TEXT,
    metadata JSONB,
    INDEX(agent_id, timestamp)
);

CREATE TABLE metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT REFERENCES agent_executions(id),
    metric_name TEXT,
    value FLOAT,
    tags JSONB,
    timestamp TIMESTAMP,
    INDEX(execution_id, metric_name)
);

CREATE TABLE evaluation_runs (
    id TEXT PRIMARY KEY,
    benchmark_id TEXT,
    timestamp TIMESTAMP,
    status TEXT,
    results JSONB,
    metadata JSONB
);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule_id TEXT,
    timestamp TIMESTAMP,
    severity TEXT,
    message TEXT,
    acknowledged BOOLEAN,
    acknowledged_at TIMESTAMP,
    acknowledged_by TEXT
);
"""

# ARCHITECTURE.md "Warehouse tables": surrogate integer ids are allowed (and so the key that refers to one)
# issue 20: unique per project (revision tenancy_0003), the design's key after project_id
PER_PROJECT = {"agents"}
INTEGER_IDS = {("agents", "id"), ("alerts", "id"), ("agent_executions", "agent_id")}
# metrics -> agent_executions is kept by the writers, not by a foreign key (see warehouse/models.py Metric)
NO_FOREIGN_KEY = {("metrics", "execution_id")}
TYPES = {"TEXT": String, "INT": Integer, "INTEGER": Integer, "FLOAT": Float, "BOOLEAN": Boolean,
         "TIMESTAMP": DateTime, "JSONB": JSON}  # fmt: skip


def parse_core_tables(sql: str) -> dict[str, dict]:
    """table -> {columns: {name: (type, clause)}, indexes: [(cols…)], uniques: [(cols…)], references: {col: table.col}}."""
    tables: dict[str, dict] = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", sql, re.S):
        table: dict = {"columns": {}, "indexes": [], "uniques": [], "references": {}}
        for line in (part.strip().rstrip(",") for part in body.strip().splitlines()):
            if match := re.fullmatch(r"(INDEX|UNIQUE)\((.*)\)", line):
                columns = tuple(c.strip() for c in match.group(2).split(","))
                table["indexes" if match.group(1) == "INDEX" else "uniques"].append(columns)
                continue
            column, sql_type, *rest = line.split()
            table["columns"][column] = (sql_type, " ".join(rest))
            if match := re.search(r"REFERENCES (\w+)\((\w+)\)", line):
                table["references"][column] = f"{match.group(1)}.{match.group(2)}"
        tables[name] = table
    return tables


CORE = parse_core_tables(CORE_TABLES_SQL)


def test_the_design_document_sql_is_fully_parsed():
    assert list(CORE) == ["agents", "agent_executions", "metrics", "evaluation_runs", "alerts"]
    assert sum(len(t["columns"]) for t in CORE.values()) == 8 + 10 + 6 + 6 + 8
    assert CORE["agent_executions"]["indexes"] == [("agent_id", "timestamp")]
    assert CORE["metrics"]["indexes"] == [("execution_id", "metric_name")]


@pytest.mark.parametrize("table", list(CORE))
def test_every_core_table_column_and_index(engine, table):
    design = CORE[table]
    inspector = inspect(engine)
    columns = {c["name"]: c for c in inspector.get_columns(table)}
    for name, (sql_type, clause) in design["columns"].items():
        assert name in columns, f"{table}.{name} is missing"
        actual = columns[name]["type"]
        expected = Integer if (table, name) in INTEGER_IDS else TYPES[sql_type]
        assert isinstance(actual, expected), f"{table}.{name}: {actual!r} is not {sql_type}"
        if sql_type == "JSONB" and engine.dialect.name == "postgresql":
            assert isinstance(actual, JSONB), f"{table}.{name}: {actual!r} is not JSONB"
        if "NOT NULL" in clause:
            assert not columns[name]["nullable"], f"{table}.{name} must be NOT NULL"
        if "PRIMARY KEY" in clause:
            assert inspector.get_pk_constraint(table)["constrained_columns"] == [name]
    indexes = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
    for index in design["indexes"]:
        assert index in indexes, f"no index {table}{index}"
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
    for unique in design["uniques"]:
        if table in PER_PROJECT:
            unique = ("project_id", *unique)
        assert unique in uniques, f"no unique constraint {table}{unique}"
    foreign = {(fk["constrained_columns"][0], f"{fk['referred_table']}.{fk['referred_columns'][0]}")
               for fk in inspector.get_foreign_keys(table)}  # fmt: skip
    for column, target in design["references"].items():
        if (table, column) not in NO_FOREIGN_KEY:
            assert (column, target) in foreign, f"{table}.{column} does not reference {target}"


def test_span_tables_keyed_by_trace_and_span(engine):
    names = set(inspect(engine).get_table_names())
    assert {"spans", "llm_calls", "tool_calls"} <= names
    span_cols = {c["name"] for c in inspect(engine).get_columns("spans")}
    assert {"trace_id", "span_id", "parent_span_id", "span_type", "attributes", "execution_id"} <= span_cols
    for table in ("spans", "llm_calls", "tool_calls"):
        assert inspect(engine).get_pk_constraint(table)["constrained_columns"] == ["trace_id", "span_id"]


def test_upgrade_is_repeatable(engine):
    before = current_revisions(engine)
    upgrade(engine)
    assert current_revisions(engine) == before and before
