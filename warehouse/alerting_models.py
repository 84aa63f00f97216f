"""Tables of the alerting component: rule evaluation state, silences, the notification queue,
per-channel delivery state, the engine leases and the append-only audit log.

Alerts themselves live in the core ``alerts`` table (``agentotel.warehouse.models.Alert``). Every alert,
rule state, notification and channel state carries the rule set (``ruleset``: a rules file or a namespace)
that produced it; ``""`` is the rule set of alerts made through the API. Every row carries its project
(``project_id``; revision alerting_0003 for rule states, channel states, leases and the audit log). A rule
set belongs to one project (those of a project other than ``default`` are named ``@<project>:…``), so the
keys by rule set are per project already.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from agentotel.warehouse.models import Alert, Base, project_column

# At most one firing alert per rule set and fingerprint (created by the alerting migrations on the core
# ``alerts`` table).
FIRING_FINGERPRINT_INDEX = Index(
    "uq_alerts_firing_fingerprint", Alert.ruleset, Alert.fingerprint, unique=True,
    postgresql_where=text("status = 'firing'"), sqlite_where=text("status = 'firing'"),
)


class AlertRuleState(Base):
    """Evaluation state of one alert series: a rule of a rule set and one label set (Prometheus-style)."""

    __tablename__ = "alert_rule_state"

    ruleset: Mapped[str] = mapped_column(String(255), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[dict[str, Any] | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="inactive")  # inactive | pending | firing
    active_since: Mapped[datetime | None] = mapped_column()  # condition first true (pending start)
    clear_since: Mapped[datetime | None] = mapped_column()  # resolve condition first true while firing
    last_eval_at: Mapped[datetime | None] = mapped_column()
    last_value: Mapped[float | None] = mapped_column(Float)
    alert_id: Mapped[int | None] = mapped_column(Integer)
    project_id: Mapped[str] = project_column()  # alerting_0003


class AlertSilence(Base):
    """Notifications for alerts whose labels match ``matchers`` are suppressed until ``ends_at``."""

    __tablename__ = "alert_silences"
    __table_args__ = (Index(None, "ends_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matchers: Mapped[dict[str, Any]] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    project_id: Mapped[str] = project_column()  # tenancy_0001


class AlertNotification(Base):
    """One notification of one alert event to one channel: the durable queue.

    ``status``: pending → sending (leased) → delivered | dead | skipped; ``dead`` rows are the dead letters.
    ``id`` doubles as the idempotency key sent to channels that accept one. ``ruleset`` is the rule set
    whose channel (and worker) the row is for.
    """

    __tablename__ = "alert_notifications"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "channel", "delivered_at"),
        Index(None, "fingerprint", "channel", "event", "created_at"),
        Index(None, "alert_id"),
        Index(None, "ruleset", "channel", "status", "next_attempt_at"),
        Index(None, "ruleset", "channel", "group_key", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ruleset: Mapped[str] = mapped_column(String(255), default="", server_default="")
    alert_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(16))  # trigger | acknowledge | resolve
    fingerprint: Mapped[str] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(String(255))
    tier: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    delivery_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    project_id: Mapped[str] = project_column()  # tenancy_0001


class AlertChannelState(Base):
    """Delivery counters and back-off state of one channel of a rule set (shared by every worker)."""

    __tablename__ = "alert_channel_state"

    ruleset: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(String(255), primary_key=True)
    deliveries_total: Mapped[int] = mapped_column(BigInteger, default=0)
    failures_total: Mapped[int] = mapped_column(BigInteger, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column()  # a Retry-After from the channel
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column()
    project_id: Mapped[str] = project_column()  # alerting_0003


class AlertEngineLease(Base):
    """Which engine evaluates a rule set: the holder renews ``expires_at``; another engine running the same
    set takes over once it has passed."""

    __tablename__ = "alert_engine_leases"

    ruleset: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column()
    renewed_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    last_round_at: Mapped[datetime | None] = mapped_column()  # start of the holder's last evaluation round
    project_id: Mapped[str] = project_column()  # alerting_0003


class AlertAuditLog(Base):
    """Append-only record of every change made to alerts, silences, rules and channels."""

    __tablename__ = "alert_audit_log"
    __table_args__ = (Index(None, "timestamp"), Index(None, "target_type", "target_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(255))
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
    project_id: Mapped[str] = project_column()  # alerting_0003
