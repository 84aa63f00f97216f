"""alerting: rule sets own their alerts, rule states, notifications and channel states; engine leases

Revision ID: alerting_0002
Revises: alerting_0001
Create Date: 2026-12-07

Rows written before this revision belong to the rule set ``""``; the first engine whose rules file has
the rule adopts its states (``alerting.engine.RuleEngine.adopt_legacy``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alerting_0002"
down_revision = "alerting_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
FIRING = "status = 'firing'"


def _ruleset() -> sa.Column:
    return sa.Column("ruleset", sa.String(length=255), nullable=False, server_default="")


def upgrade() -> None:
    op.add_column("alerts", _ruleset())
    op.drop_index("uq_alerts_firing_fingerprint", table_name="alerts")
    op.create_index("uq_alerts_firing_fingerprint", "alerts", ["ruleset", "fingerprint"], unique=True,
                    postgresql_where=sa.text(FIRING), sqlite_where=sa.text(FIRING))
    for table, key in (("alert_rule_state", ["rule_id", "fingerprint"]), ("alert_channel_state", ["channel"])):
        with op.batch_alter_table(table) as batch:
            batch.add_column(_ruleset())
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["ruleset", *key])
    op.add_column("alert_notifications", _ruleset())
    op.create_index(op.f("ix_alert_notifications_ruleset_channel_status_next_attempt_at"), "alert_notifications",
                    ["ruleset", "channel", "status", "next_attempt_at"])
    op.create_index(op.f("ix_alert_notifications_ruleset_channel_group_key_status"), "alert_notifications",
                    ["ruleset", "channel", "group_key", "status"])
    op.create_table(
        "alert_engine_leases",
        sa.Column("ruleset", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("renewed_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("last_round_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("ruleset", name=op.f("pk_alert_engine_leases")),
    )


def downgrade() -> None:
    """Fails when two rule sets hold the same rule id and labels (the old keys would collide)."""
    op.drop_table("alert_engine_leases")
    op.drop_index(op.f("ix_alert_notifications_ruleset_channel_group_key_status"), table_name="alert_notifications")
    op.drop_index(op.f("ix_alert_notifications_ruleset_channel_status_next_attempt_at"),
                  table_name="alert_notifications")
    with op.batch_alter_table("alert_notifications") as batch:
        batch.drop_column("ruleset")
    for table, key in (("alert_rule_state", ["rule_id", "fingerprint"]), ("alert_channel_state", ["channel"])):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", key)
            batch.drop_column("ruleset")
    op.drop_index("uq_alerts_firing_fingerprint", table_name="alerts")
    op.create_index("uq_alerts_firing_fingerprint", "alerts", ["fingerprint"], unique=True,
                    postgresql_where=sa.text(FIRING), sqlite_where=sa.text(FIRING))
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("ruleset")
