"""analytics: LLM rollups name a model as /metrics does (the response model, else the request model)

Revision ID: analytics_0002
Revises: analytics_0001
Create Date: 2026-12-07

The ``model`` dimension of ``rollup_llm`` was ``coalesce(request_model, response_model)``; the receiver's
``/metrics`` and the Grafana warehouse dashboard name the model that answered. The rolled-up minutes (and the
10-minute and hour rows over them) are recomputed from ``llm_calls`` with the new naming in the migration's
transaction, at the end of analytics_0003 (the rollup code writes that revision's sketches) (minutes after the watermark are read from the raw rows anyway). A downgrade leaves the rows as
they are: the code names models the new way.
"""

from __future__ import annotations

from datetime import timedelta

from alembic import op
from sqlalchemy import func, select

revision = "analytics_0002"
down_revision = "analytics_0001"
branch_labels = None
depends_on = None


PENDING = "analytics_0002"  # rollup_state row: the recompute is due (run by analytics_0003)


def upgrade() -> None:
    """The recompute itself runs at the end of analytics_0003: the rollup code writes that revision's
    binary sketches, which this schema cannot hold yet. Here: a ``rollup_state`` row marks it due."""
    import sqlalchemy as sa

    # here: Alembic reads every revision file at each open; numpy/pandas (the rollup code) only if this runs
    from agentotel.warehouse.rollups import FAMILIES, MINUTE

    bind = op.get_bind()
    rows = FAMILIES["llm"].rollup.c
    if bind.execute(select(func.count()).select_from(FAMILIES["llm"].rollup).where(rows.width_s == MINUTE)).scalar():
        state = sa.table("rollup_state", sa.column("name"), sa.column("rows_written"))
        bind.execute(state.insert().values(name=PENDING, rows_written=0))


def recompute_llm(bind) -> None:
    """Recompute the rolled-up model calls with the new naming (called by analytics_0003 when due)."""
    # here: Alembic reads every revision file at each open; numpy/pandas (the rollup code) only if this runs
    from agentotel.core.utc import as_utc
    from agentotel.warehouse.rollups import FAMILIES, MINUTE, rebuild_range

    family = FAMILIES["llm"]
    rows = family.rollup.c
    lo, hi = bind.execute(select(func.min(rows.bucket), func.max(rows.bucket)).where(rows.width_s == MINUTE)).one()
    if lo is None or hi is None:
        return
    rebuild_range(bind, family, as_utc(lo), as_utc(hi) + timedelta(minutes=1))


def downgrade() -> None:
    pass
