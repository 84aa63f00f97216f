"""alerting: rule state, silences, notification queue, channel state, append-only audit log

Revision ID: alerting_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "alerting_0001"
down_revision = None
branch_labels = ("alerting",)
depends_on = "0001"

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
AUDIT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_rule_state",
        sa.Column("rule_id", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("labels", JSON_TYPE, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("active_since", TS, nullable=True),
        sa.Column("clear_since", TS, nullable=True),
        sa.Column("last_eval_at", TS, nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id", "fingerprint", name=op.f("pk_alert_rule_state")),
    )
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("matchers", JSON_TYPE, nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_silences")),
    )
    op.create_index(op.f("ix_alert_silences_ends_at"), "alert_silences", ["ends_at"])
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.String(length=255), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivery_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
    )
    op.create_index(
        op.f("ix_alert_notifications_status_next_attempt_at"), "alert_notifications", ["status", "next_attempt_at"]
    )
    op.create_index(
        op.f("ix_alert_notifications_channel_delivered_at"), "alert_notifications", ["channel", "delivered_at"]
    )
    op.create_index(
        op.f("ix_alert_notifications_fingerprint_channel_event_created_at"),
        "alert_notifications",
        ["fingerprint", "channel", "event", "created_at"],
    )
    op.create_index(op.f("ix_alert_notifications_alert_id"), "alert_notifications", ["alert_id"])
    op.create_table(
        "alert_channel_state",
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("deliveries_total", sa.BigInteger(), nullable=False),
        sa.Column("failures_total", sa.BigInteger(), nullable=False),
        sa.Column("blocked_until", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_alert_channel_state")),
    )
    op.create_table(
        "alert_audit_log",
        sa.Column("id", AUDIT_ID, autoincrement=True, nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("before", JSON_TYPE, nullable=True),
        sa.Column("after", JSON_TYPE, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_audit_log")),
    )
    op.create_index(op.f("ix_alert_audit_log_timestamp"), "alert_audit_log", ["timestamp"])
    op.create_index(
        op.f("ix_alert_audit_log_target_type_target_id"), "alert_audit_log", ["target_type", "target_id"]
    )
    # at most one firing alert per fingerprint, even with several writers (partial unique index)
    op.create_index("uq_alerts_firing_fingerprint", "alerts", ["fingerprint"], unique=True,
                    postgresql_where=sa.text("status = 'firing'"), sqlite_where=sa.text("status = 'firing'"))
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    """The audit log refuses UPDATE and DELETE at the database level."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION alert_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'alert_audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER alert_audit_log_no_change BEFORE UPDATE OR DELETE ON alert_audit_log "
            "FOR EACH ROW EXECUTE FUNCTION alert_audit_log_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER alert_audit_log_no_{action.lower()} BEFORE {action} ON alert_audit_log "
                "BEGIN SELECT RAISE(ABORT, 'alert_audit_log is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS alert_audit_log_no_change ON alert_audit_log")
        op.execute("DROP FUNCTION IF EXISTS alert_audit_log_append_only()")
    op.drop_index("uq_alerts_firing_fingerprint", table_name="alerts")
    for name in ("alert_audit_log", "alert_channel_state", "alert_notifications", "alert_silences", "alert_rule_state"):
        op.drop_table(name)
