"""tenancy: the per-minute rollups carry ``project_id`` as part of each row's key, under row-level security

Revision ID: tenancy_0002
Revises: tenancy_0001
Create Date: 2026-12-07

``rollup_executions``, ``rollup_llm`` and ``rollup_tools`` get ``project_id`` (existing rows: ``default``) in
their primary key, after ``(width_s, bucket)``; on PostgreSQL the policy ``project_isolation`` of tenancy_0001
and the reader's SELECT, and the reader may read the watermarks (``rollup_state``: times, no figures).

Rows rolled up before this revision mix every project of their bucket. Where the source table of a family
holds rows of a project other than ``default``, that family's rollup rows and watermark are deleted instead
of being labelled ``default``: readers read its raw rows until the next catch-up (``rollups.catch_up``, run
when a receiver starts) rebuilds them per project. A downgrade deletes the rollup rows and watermarks in the
same way (rows of several projects cannot share the old key).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tenancy_0002"
down_revision = "tenancy_0001"
branch_labels = None
# after analytics_0003: its rebuild of the rollups (the rollup code of today) runs on the unkeyed tables
depends_on = "analytics_0003"

# Self-contained: this revision never changes, whatever the models become.
DEFAULT = "default"
READER_ROLE = "agentotel_reader"
SETTING = "agentotel.project"
MATCH = f"project_id = ANY (string_to_array(current_setting('{SETTING}', true), ','))"
# rollup table -> (rollup_state name, source table, key columns after width_s and bucket)
TABLES = {
    "rollup_executions": ("executions", "agent_executions", ("agent_name", "service_name")),
    "rollup_llm": ("llm", "llm_calls", ("agent_name", "service_name", "provider", "model")),
    "rollup_tools": ("tools", "tool_calls", ("agent_name", "service_name", "tool_name")),
}
PROJECT_KEYED = "agentotel.rollups.project_keyed"  # the rollup code's per-connection note (``rollups``)


def _forget(table: str) -> None:
    """Delete the rollup rows of ``table`` and its family's watermark (rebuilt by the next catch-up)."""
    name = TABLES[table][0]
    op.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
    op.execute(f"DELETE FROM rollup_state WHERE name = '{name}'")  # noqa: S608


def upgrade() -> None:
    bind = op.get_bind()
    for table, (_name, source, dims) in TABLES.items():
        mixed = bind.execute(sa.text(
            f"SELECT 1 FROM {source} WHERE project_id <> :default LIMIT 1"  # noqa: S608 - constant names
        ), {"default": DEFAULT}).first()  # fmt: skip
        if mixed is not None:
            _forget(table)
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("project_id", sa.String(64), nullable=False, server_default=DEFAULT))
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["width_s", "bucket", "project_id", *dims])
    bind.info.pop(PROJECT_KEYED, None)
    if bind.dialect.name == "postgresql":
        _row_security()


def _row_security() -> None:
    # roles are per cluster: another database may have made it, concurrently too
    exists = f"SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}'"  # noqa: S608 - a constant
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS ({exists}) THEN CREATE ROLE {READER_ROLE} NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY project_isolation ON {table} USING ({MATCH}) WITH CHECK ({MATCH})")
        op.execute(f"GRANT SELECT ON {table} TO {READER_ROLE}")
    op.execute(f"GRANT SELECT ON rollup_state TO {READER_ROLE}")


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute(f"REVOKE SELECT ON rollup_state FROM {READER_ROLE}")  # noqa: S608 - a constant role
    for table, (_name, _source, dims) in TABLES.items():
        if postgres:
            op.execute(f"DROP POLICY IF EXISTS project_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
            op.execute(f"REVOKE ALL ON {table} FROM {READER_ROLE}")
        _forget(table)
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.drop_column("project_id")
            batch.create_primary_key(f"pk_{table}", ["width_s", "bucket", *dims])
    bind.info.pop(PROJECT_KEYED, None)
