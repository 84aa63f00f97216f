"""Retention: per-table policies, deletes by time, whole-partition drops on partitioned PostgreSQL tables.

``apply_retention(engine, older_than)`` removes rows older than ``now - older_than`` (a table's policy in
``overrides`` wins) and keeps the derived tables consistent:

- executions go first; spans, LLM calls and tool calls of a removed execution go with it even when they
  started after the cut-off (up to ``CHILD_GRACE`` later), so no span is left pointing at a removed run;
- rollup rows before the cut-off are deleted and the rollups of the boundary are rebuilt from what is left;
- on a table partitioned by ``SchemaManager.enable_partitioning``, every daily partition that ends at or
  before the cut-off is dropped whole (no row-by-row delete); the boundary partition is deleted by time.
- alerts: only resolved alerts expire; evaluation runs and agents are kept unless named in ``tables``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, Engine, and_, delete, exists, func, or_, select

from agentotel.warehouse import fts, schema_manager
from agentotel.warehouse.models import Base
from agentotel.warehouse.rollups import COARSE_LEVELS, FAMILIES, HOUR, MINUTE, _ceil, _floor, rebuild_range

logger = logging.getLogger(__name__)

CHILD_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class RetentionPolicy:
    """How ``table`` expires: by ``time_column``; ``only_where`` restricts which rows may expire."""

    table: str
    time_column: str
    default: bool = True  # part of a plain ``apply_retention`` run
    only_resolved: bool = False


POLICIES: dict[str, RetentionPolicy] = {
    p.table: p
    for p in (
        RetentionPolicy("agent_executions", "timestamp"),
        RetentionPolicy("spans", "start_time"),
        RetentionPolicy("llm_calls", "start_time"),
        RetentionPolicy("tool_calls", "start_time"),
        RetentionPolicy("metrics", "timestamp"),
        RetentionPolicy("logs", "timestamp"),
        RetentionPolicy("alerts", "timestamp", only_resolved=True),
        RetentionPolicy("evaluation_runs", "timestamp", default=False),
    )
}
CHILD_TABLES = ("spans", "llm_calls", "tool_calls")


def apply_retention(
    engine: Engine,
    older_than: timedelta,
    tables: Iterable[str] | None = None,
    overrides: Mapping[str, timedelta] | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Remove expired rows; returns rows removed per table (rollup tables included)."""
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    now = now or datetime.now(timezone.utc)
    selected = list(tables) if tables is not None else [t for t, p in POLICIES.items() if p.default]
    unknown = [t for t in selected if t not in POLICIES]
    if unknown:
        raise ValueError(f"no retention policy for {unknown}; known: {sorted(POLICIES)}")
    for table, age in (overrides or {}).items():
        if table not in POLICIES or age <= timedelta(0):
            raise ValueError(f"invalid retention override {table}={age}")
    cutoffs = {t: now - (overrides or {}).get(t, older_than) for t in selected}
    removed: dict[str, int] = {}
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            partitioned = schema_manager.partitioned_tables(conn)
            order = sorted(selected, key=lambda t: (t != "agent_executions", t))
            for table in order:
                removed[table] = _expire(conn, POLICIES[table], cutoffs[table], table in partitioned)
            if "agent_executions" in cutoffs:
                for table in CHILD_TABLES:
                    removed[table] = removed.get(table, 0) + _orphans(conn, table, cutoffs["agent_executions"])
            removed.update(_trim_rollups(conn, cutoffs))
    return removed


def _expire(conn: Connection, policy: RetentionPolicy, cutoff: datetime, partitioned: bool) -> int:
    table = Base.metadata.tables[policy.table]
    column = table.c[policy.time_column]
    count = 0
    if partitioned:
        count += schema_manager.drop_partitions_before(conn, policy.table, cutoff)
        if policy.table == "spans":  # a dropped partition fires no trigger: prune the content index by time
            fts.prune_pg_content_index(conn, cutoff)
    condition = column < cutoff
    if policy.only_resolved:
        condition = and_(condition, table.c.status == "resolved")
    count += conn.execute(delete(table).where(condition)).rowcount or 0
    return count


def _orphans(conn: Connection, table_name: str, cutoff: datetime) -> int:
    """Children of removed executions that started after the cut-off (within ``CHILD_GRACE``)."""
    table = Base.metadata.tables[table_name]
    executions = Base.metadata.tables["agent_executions"]
    gone = ~exists().where(executions.c.id == table.c.execution_id)
    stmt = delete(table).where(
        table.c.start_time >= cutoff,
        table.c.start_time < cutoff + CHILD_GRACE,
        table.c.execution_id.is_not(None),
        gone,
    )
    return conn.execute(stmt).rowcount or 0


def _trim_rollups(conn: Connection, cutoffs: Mapping[str, datetime]) -> dict[str, int]:
    sources = {"executions": "agent_executions", "llm": "llm_calls", "tools": "tool_calls"}
    removed: dict[str, int] = {}
    for name, family in FAMILIES.items():
        cutoff = cutoffs.get(sources[name])
        if cutoff is None:
            continue
        rollup = family.rollup
        if conn.execute(select(func.count()).select_from(rollup)).scalar() == 0:
            continue
        hour_cut = _floor(cutoff, HOUR)
        stmt = delete(rollup).where(
            or_(*((rollup.c.width_s == width) & (rollup.c.bucket < _floor(cutoff, width)) for width in (MINUTE, *COARSE_LEVELS)))
        )
        count = conn.execute(stmt).rowcount or 0
        # the boundary minute/hour (and the children removed after the cut-off) are recomputed
        rebuild_range(conn, family, hour_cut, _ceil(cutoff + CHILD_GRACE, HOUR))
        removed[rollup.name] = count
    return removed

