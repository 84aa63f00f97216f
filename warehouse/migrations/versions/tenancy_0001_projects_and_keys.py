"""tenancy: projects, hashed API keys and their audit log; ``project_id`` on every project-scoped table
(existing rows go to the ``default`` project); on PostgreSQL, row-level security keyed on the session
setting ``agentotel.project`` for every role but the tables' owner (the ``agentotel_reader`` role is made
and granted SELECT).

Revision ID: tenancy_0001
Revises:
Create Date: 2026-12-07

The column is added with a constant default: a catalogue-only change on PostgreSQL (no table rewrite) and
a plain ``ALTER TABLE … ADD COLUMN`` on SQLite (no batch rebuild, so the content-index triggers on
``spans`` stay). A policy admits a row whose ``project_id`` is one of the comma-separated projects of
``current_setting('agentotel.project', true)``; without the setting nothing is visible (fail closed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tenancy_0001"
down_revision = None
branch_labels = ("tenancy",)
# the revisions that create the tables this one alters (not the branches' heads: those stay listed)
depends_on = ("0001", "alerting_0001", "evaluation_0001", "explorer_0002", "interop_0001", "registry_0001")

# Self-contained: this revision never changes, whatever the models become.
DEFAULT = "default"
READER_ROLE = "agentotel_reader"
SETTING = "agentotel.project"
PROJECT_TABLES = (
    "spans", "llm_calls", "tool_calls", "agent_executions", "metrics", "logs", "evaluation_runs",
    "evaluation_results", "alerts", "alert_notifications", "alert_silences", "registry_deployments",
    "registry_environments", "registry_changelog", "registry_audit_log",
)  # fmt: skip
READER_TABLES = ("agents", "projects", "span_content_index")  # readable by the reader besides PROJECT_TABLES
MATCH = f"project_id = ANY (string_to_array(current_setting('{SETTING}', true), ','))"
CONTENT_MATCH = ("EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = span_content_index.trace_id "
                 "AND s.span_id = span_content_index.span_id)")  # spans' own policy applies inside


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projects")),
    )
    # no row for ``default``: it is implied (a restore needs an empty database); made with its first key
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.name"], name=op.f("fk_api_keys_project_id_projects"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_keys_digest")),
    )
    op.create_table(
        "key_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_audit_log")),
    )
    op.create_index(op.f("ix_key_audit_log_at"), "key_audit_log", ["at"])
    for table in PROJECT_TABLES:
        op.add_column(table, sa.Column("project_id", sa.String(64), nullable=False, server_default=DEFAULT))
    if op.get_bind().dialect.name == "postgresql":
        _row_security()


def _row_security() -> None:
    # roles are per cluster: another database may have made it, concurrently too
    exists = f"SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}'"  # noqa: S608 - a constant
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS ({exists}) THEN CREATE ROLE {READER_ROLE} NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    for table in PROJECT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY project_isolation ON {table} USING ({MATCH}) WITH CHECK ({MATCH})")
        op.execute(f"GRANT SELECT ON {table} TO {READER_ROLE}")
    op.execute("ALTER TABLE span_content_index ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY project_isolation ON span_content_index USING ({CONTENT_MATCH})")
    for table in READER_TABLES:
        op.execute(f"GRANT SELECT ON {table} TO {READER_ROLE}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {READER_ROLE}")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if postgres and "span_content_index" in present:
        op.execute("DROP POLICY IF EXISTS project_isolation ON span_content_index")
        op.execute("ALTER TABLE span_content_index DISABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE ALL ON span_content_index FROM {READER_ROLE}")
    for table in PROJECT_TABLES:
        if table not in present:
            continue
        if postgres:
            op.execute(f"DROP POLICY IF EXISTS project_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
            op.execute(f"REVOKE ALL ON {table} FROM {READER_ROLE}")
        op.drop_column(table, "project_id")
    if postgres:
        op.execute(f"REVOKE ALL ON agents FROM {READER_ROLE}")
    op.drop_index(op.f("ix_key_audit_log_at"), table_name="key_audit_log")
    op.drop_table("key_audit_log")
    op.drop_table("api_keys")
    op.drop_table("projects")
