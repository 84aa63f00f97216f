"""analytics: binary duration sketches and a day level in the rollups

Revision ID: analytics_0003
Revises: analytics_0002
Create Date: 2026-12-07

Each rollup row's duration sketch moves from a JSON object (``duration_hist``, parsed row by row on every
read) to packed binary records (``duration_sketch``, ``sketch.DTYPE``: big-endian 4-byte bucket index and
8-byte count, sorted by index), which many rows decode in one ``numpy.frombuffer``. The existing sketches are
converted in one statement per table (PostgreSQL: ``int4send || int8send`` over ``jsonb_each_text``; SQLite:
a conversion function registered on the migration's connection). Then day rows (``width_s`` 86400) are
merged from the hour rows already stored. A downgrade converts back and drops the day rows.
"""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "analytics_0003"
down_revision = "analytics_0002"
branch_labels = None
depends_on = None

TABLES = {
    "rollup_executions": ("width_s", "bucket", "agent_name", "service_name"),
    "rollup_llm": ("width_s", "bucket", "agent_name", "service_name", "provider", "model"),
    "rollup_tools": ("width_s", "bucket", "agent_name", "service_name", "tool_name"),
}
DAY = 86400
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PG_TO_BYTES = (
    "UPDATE {table} SET duration_sketch = COALESCE((SELECT string_agg(int4send(e.key::int4) || int8send(e.value::int8),"
    " ''::bytea ORDER BY e.key::int4) FROM jsonb_each_text(CASE WHEN jsonb_typeof(duration_hist) = 'object'"
    " THEN duration_hist ELSE '{{}}'::jsonb END) AS e), ''::bytea)"
)


def _json_to_bytes(text: str | None) -> bytes:
    # here: Alembic reads every revision file at each open; numpy/pandas (the rollup code) only if this runs
    from agentotel.warehouse import sketch

    value = json.loads(text) if text else None
    return sketch.to_bytes(value if isinstance(value, dict) else None)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        op.add_column(table, sa.Column("duration_sketch", sa.LargeBinary(), nullable=True))
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(PG_TO_BYTES.format(table=table))
    else:
        raw = bind.connection.driver_connection
        assert raw is not None  # a connection in use always has its driver connection
        raw.create_function("agentotel_sketch_bytes", 1, _json_to_bytes, deterministic=True)
        for table in TABLES:
            op.execute(f"UPDATE {table} SET duration_sketch = agentotel_sketch_bytes(duration_hist)")  # noqa: S608 - constant names
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("duration_hist")
    _recompute_due_llm_rows(bind)
    _fill_days(bind)


def _recompute_due_llm_rows(bind) -> None:
    """analytics_0002's recompute of the model-call rollups, when it marked one due."""
    import importlib.util
    from pathlib import Path

    state = sa.table("rollup_state", sa.column("name"))
    if not bind.execute(sa.select(state.c.name).where(state.c.name == "analytics_0002")).first():
        return
    path = Path(__file__).with_name("analytics_0002_model_as_metrics.py")
    spec = importlib.util.spec_from_file_location("analytics_0002_model_as_metrics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.recompute_llm(bind)
    bind.execute(sa.delete(state).where(state.c.name == "analytics_0002"))


def _fill_days(bind) -> None:
    """Day rows merged from the stored hour rows, a week at a time."""
    from sqlalchemy import func, select

    # here: Alembic reads every revision file at each open; numpy/pandas (the rollup code) only if this runs
    from agentotel.core.utc import as_utc
    from agentotel.warehouse.rollups import FAMILIES, HOUR, rebuild_days

    for family in FAMILIES.values():
        rows = family.rollup.c
        lo, hi = bind.execute(select(func.min(rows.bucket), func.max(rows.bucket)).where(rows.width_s == HOUR)).one()
        if lo is None or hi is None:
            continue
        cursor, last = as_utc(lo), as_utc(hi) + timedelta(hours=1)
        while cursor < last:
            step = min(last, cursor + timedelta(days=7))
            rebuild_days(bind, family, cursor, step)
            cursor = step


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        op.execute(f"DELETE FROM {table} WHERE width_s = {DAY}")  # noqa: S608 - constant names
        op.add_column(table, sa.Column("duration_hist", JSON_TYPE, nullable=True))
    # here: Alembic reads every revision file at each open; numpy/pandas (the rollup code) only if this runs
    from agentotel.warehouse import sketch

    for table, keys in TABLES.items():
        t = sa.table(table, *(sa.column(k) for k in keys), sa.column("duration_sketch", sa.LargeBinary),
                     sa.column("duration_hist", JSON_TYPE))
        rows = bind.execute(sa.select(*(t.c[k] for k in keys), t.c.duration_sketch)).fetchall()
        if rows:
            update = sa.update(t).where(*(t.c[k] == sa.bindparam(f"k_{k}") for k in keys)).values(
                duration_hist=sa.bindparam("hist"))
            bind.execute(update, [{**{f"k_{k}": v for k, v in zip(keys, row[:-1], strict=True)},
                                   "hist": sketch.from_bytes(row[-1])} for row in rows])
        with op.batch_alter_table(table) as batch:
            batch.drop_column("duration_sketch")
