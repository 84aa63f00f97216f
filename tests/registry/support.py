"""Helpers for registry tests: a registry on the test warehouse, telemetry rows as the receiver writes them."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select, text

from agentotel.registry import (
    DEFAULT_POLICIES,
    AgentMetadata,
    AgentRegistry,
    PromotionGate,
    VersionManager,
    WarehouseEvaluationStore,
)
from agentotel.warehouse.models import Agent
from agentotel.warehouse.upsert import insert_on_conflict


def make_registry(engine, gate: PromotionGate | None = None) -> AgentRegistry:
    """A registry with the default gate policies (independent of AGENTOTEL_REGISTRY_GATE)."""
    gate = gate or PromotionGate(WarehouseEvaluationStore(engine), policies=dict(DEFAULT_POLICIES))
    return AgentRegistry(engine, VersionManager(engine, gate))


def register(registry: AgentRegistry, name: str, *versions: str, actor: str = "ana") -> None:
    for version in versions:
        registry.register_agent(AgentMetadata(name, version, model_type="gpt-4o-mini", provider="openai"), actor=actor)


def discover(engine, name: str, version: str) -> None:
    """The row the receiver writes when it first sees ``gen_ai.agent.name``/version (processors/writer.py)."""
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        insert_on_conflict(
            conn,
            Agent.__table__,
            [{"name": name, "version": version, "source": "telemetry", "created_at": now, "updated_at": now, "last_seen_at": now}],
            ("name", "version"),
        )


def count_rows(engine, table: str, **where) -> int:
    from agentotel.warehouse.models import Base

    t = Base.metadata.tables[table]
    stmt = select(func.count()).select_from(t)
    for key, value in where.items():
        stmt = stmt.where(t.c[key] == value)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
