"""agent registry: environments, deployments, changelog, audit log

Revision ID: registry_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "registry_0001"
down_revision = None
branch_labels = ("registry",)
depends_on = "0001"

# Self-contained: this revision never changes, whatever the models become.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
APPEND_ONLY_TABLES = ("registry_deployments", "registry_changelog", "registry_audit_log")


def upgrade() -> None:
    op.create_table(
        "registry_deployments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("previous_version", sa.String(length=64), nullable=True),
        sa.Column("restores_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("gate", JSON_TYPE, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_registry_deployments_agent_id_agents"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["restores_id"],
            ["registry_deployments.id"],
            name=op.f("fk_registry_deployments_restores_id_registry_deployments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_deployments")),
    )
    op.create_index(
        op.f("ix_registry_deployments_agent_name_environment_id"),
        "registry_deployments",
        ["agent_name", "environment", "id"],
    )
    op.create_table(
        "registry_environments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_registry_environments_agent_id_agents"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["registry_deployments.id"],
            name=op.f("fk_registry_environments_deployment_id_registry_deployments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_environments")),
        sa.UniqueConstraint("agent_name", "environment", name=op.f("uq_registry_environments_agent_name_environment")),
    )
    op.create_table(
        "registry_changelog",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_registry_changelog_agent_id_agents"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_changelog")),
    )
    op.create_index(op.f("ix_registry_changelog_agent_name_version"), "registry_changelog", ["agent_name", "version"])
    op.create_table(
        "registry_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("environment", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("before", JSON_TYPE, nullable=True),
        sa.Column("after", JSON_TYPE, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_audit_log")),
    )
    op.create_index(op.f("ix_registry_audit_log_agent_name_id"), "registry_audit_log", ["agent_name", "id"])
    op.create_index(op.f("ix_registry_audit_log_at"), "registry_audit_log", ["at"])
    for table in APPEND_ONLY_TABLES:
        _create_append_only_guard(table)


def downgrade() -> None:
    for table in APPEND_ONLY_TABLES:
        _drop_append_only_guard(table)
    op.drop_table("registry_audit_log")
    op.drop_table("registry_changelog")
    op.drop_table("registry_environments")
    op.drop_table("registry_deployments")


def _create_append_only_guard(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` (identifiers are the constants above, never user input)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{table} is append-only' USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _drop_append_only_guard(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
