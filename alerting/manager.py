"""Alert lifecycle on the ``alerts`` table: create, update, acknowledge, resolve, list; silences;
escalation and reminders; every acknowledge / resolve / silence change written to the append-only audit log.

Every alert belongs to a rule set (``alerts.ruleset``): the rules file or namespace whose engine created it,
or ``""`` for alerts made through the API (the evaluation component). ``AlertManager(engine, config)`` acts
for ``config.ruleset``: it escalates its own alerts and the API's (to its own channels), never those of
another rule set.

Notifications are not sent from here: ``escalate()`` (run by the service loop) queues the triggers of
firing, unacknowledged, unsilenced alerts tier by tier, so an alert created by any process (the rules
engine, the evaluation component) is notified once the worker runs; ``remind()`` queues a reminder of an
alert still firing unacknowledged ``repeat_interval`` after its channel was last told. Acknowledge and
resolve cancel triggers still waiting (``group_wait``, a retry) and queue their follow-up events (PagerDuty
acknowledge / resolve, "resolved" messages) to the channels that got the trigger.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, select, true
from sqlalchemy.exc import IntegrityError

from agentotel.alerting.config import AlertingConfig, project_ruleset
from agentotel.alerting.queue import (
    DELIVERED,
    PENDING,
    SENDING,
    SKIPPED,
    SUPPRESSED,
    NotificationQueue,
    notification_row,
)
from agentotel.alerting.rules.base import SEVERITIES
from agentotel.alerting.store import (
    ALERTS,
    NOTIFICATIONS,
    SILENCES,
    alert_dict,
    as_utc,
    fingerprint,
    insert_audit,
    iso,
    utcnow,
    write_tx,
)
from agentotel.core.projects import DEFAULT_PROJECT


class AlertNotFound(KeyError):
    """No alert with that id."""


class AlertManager:
    """The alert lifecycle. ``config`` (a parsed rules file) supplies the rule set and the escalation
    policies; ``queue`` (optional) the dedup window and the reminder interval. ``project`` (default: the
    queue's): the manager sees and changes only that project's alerts and silences and stamps the rows it
    writes with it; None: every alert, new rows in ``default``."""

    def __init__(self, engine: Engine, config: AlertingConfig | None = None, queue: NotificationQueue | None = None,
                 project: str | None = None) -> None:
        self.engine = engine
        self.config = config
        self.queue = queue
        self.project = project if project is not None or queue is None else queue.project
        # the rule set of alerts made through the API: "" (default project), else the project's own, so that
        # two projects' alerts with the same rule and labels are two alerts
        self.api_ruleset = "" if self.project in (None, DEFAULT_PROJECT) else project_ruleset("", str(self.project))
        self.ruleset = config.ruleset if config is not None else (queue.ruleset if queue is not None else self.api_ruleset)
        self._stamp = {} if self.project is None else {"project_id": self.project}

    def _mine(self, table: Table) -> ColumnElement[bool]:
        """The rows of ``table`` that belong to this manager's project (all of them without one)."""
        return true() if self.project is None else table.c.project_id == self.project

    # --- lifecycle -----------------------------------------------------------------------------------------

    def create_alert(self, rule_id: str, severity: str, message: str, labels: dict | None = None,
                     value: float | None = None, annotations: dict | None = None, by: str = "system",
                     ruleset: str | None = None) -> int:
        """Record a firing alert of ``ruleset`` (default: this manager's) and return its id. An alert of the
        rule set already firing with the same rule and labels is updated (value, message, severity) instead
        of duplicated."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        if not rule_id:
            raise ValueError("rule_id is required")
        labels = {str(k): str(v) for k, v in (labels or {}).items()}
        owner = self.ruleset if ruleset is None else ruleset
        try:
            return self._create(rule_id, severity, message, labels, value, annotations, by, owner)
        except IntegrityError:  # another writer created the firing alert first: update that one
            return self._create(rule_id, severity, message, labels, value, annotations, by, owner)

    def _create(self, rule_id: str, severity: str, message: str, labels: dict[str, str], value: float | None,
                annotations: dict | None, by: str, ruleset: str) -> int:
        fp = fingerprint(rule_id, labels)
        now = utcnow()
        with write_tx(self.engine) as conn:
            existing = conn.execute(select(ALERTS.c.id).where(
                ALERTS.c.ruleset == ruleset, ALERTS.c.fingerprint == fp, ALERTS.c.status == "firing", self._mine(ALERTS))
                .order_by(ALERTS.c.id.desc()).limit(1).with_for_update()).first()
            if existing is not None:
                conn.execute(ALERTS.update().where(ALERTS.c.id == existing.id).values(
                    message=message, severity=severity, value=value, updated_at=now))
                return int(existing.id)
            alert_id = conn.execute(ALERTS.insert().values(
                rule_id=rule_id, timestamp=now, severity=severity, message=message, acknowledged=False,
                status="firing", fingerprint=fp, labels=labels, annotations=dict(annotations or {}), value=value,
                updated_at=now, ruleset=ruleset, **self._stamp,
            ).returning(ALERTS.c.id)).scalar_one()
            insert_audit(conn, by, "create", "alert", alert_id, None,
                         {"rule_id": rule_id, "severity": severity, "labels": labels, "value": value}, now,
                         project=self.project)
        return int(alert_id)

    def update_alert(self, alert_id: int, *, message: str | None = None, severity: str | None = None,
                     value: float | None = None, annotations: dict | None = None, by: str = "system",
                     audit: bool = True) -> dict[str, Any]:
        """Change an alert's message, severity, value or annotations; returns the updated alert."""
        if severity is not None and severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        changes = {k: v for k, v in {"message": message, "severity": severity, "value": value,
                                     "annotations": annotations}.items() if v is not None}
        now = utcnow()
        with write_tx(self.engine) as conn:
            before = self._get(conn, alert_id)
            if changes:
                conn.execute(ALERTS.update().where(ALERTS.c.id == alert_id).values(**changes, updated_at=now))
                if audit:
                    insert_audit(conn, by, "update", "alert", alert_id,
                                 {k: before[k] for k in changes}, {k: changes[k] for k in changes}, now,
                                 project=self._project_of(conn, alert_id))
            return self._get(conn, alert_id)

    def acknowledge_alert(self, alert_id: int, by: str) -> dict[str, Any]:
        """Mark an alert acknowledged by ``by``: stops escalation and reminders, cancels its triggers not yet
        sent (still waiting out ``group_wait`` or a retry); PagerDuty gets ``acknowledge``."""
        if not by:
            raise ValueError("acknowledge needs the name of who acknowledges ('by')")
        now = utcnow()
        with write_tx(self.engine) as conn:
            before = self._get(conn, alert_id)
            if before["acknowledged"]:
                return before
            if before["status"] == "resolved":
                raise ValueError(f"alert {alert_id} is already resolved")
            conn.execute(ALERTS.update().where(ALERTS.c.id == alert_id).values(
                acknowledged=True, acknowledged_by=str(by)[:255], acknowledged_at=now, updated_at=now))
            insert_audit(conn, by, "acknowledge", "alert", alert_id, {"acknowledged": False},
                         {"acknowledged": True, "acknowledged_by": by}, now, project=self._project_of(conn, alert_id))
            after = self._get(conn, alert_id)
            self._cancel_triggers(conn, alert_id, "alert acknowledged before delivery", now)
            self._follow_up(conn, after, "acknowledge", now)
            return after

    def resolve_alert(self, alert_id: int, by: str | None = None) -> dict[str, Any]:
        """Resolve an alert; triggers not yet delivered are cancelled, channels that got one get ``resolve``."""
        now = utcnow()
        with write_tx(self.engine) as conn:
            before = self._get(conn, alert_id)
            if before["status"] == "resolved":
                return before
            conn.execute(ALERTS.update().where(ALERTS.c.id == alert_id).values(
                status="resolved", resolved_at=now, updated_at=now))
            insert_audit(conn, by or "system", "resolve", "alert", alert_id, {"status": before["status"]},
                         {"status": "resolved"}, now, project=self._project_of(conn, alert_id))
            after = self._get(conn, alert_id)
            self._cancel_triggers(conn, alert_id, "alert resolved before delivery", now)
            self._follow_up(conn, after, "resolve", now)
            return after

    def _project_of(self, conn: Connection, alert_id: int) -> str | None:
        """The project of an alert (this manager's, when it has one): its audit rows are that project's."""
        if self.project is not None:
            return self.project
        return conn.execute(select(ALERTS.c.project_id).where(ALERTS.c.id == alert_id)).scalar_one_or_none()

    def _cancel_triggers(self, conn: Connection, alert_id: int, reason: str, now: datetime) -> None:
        conn.execute(NOTIFICATIONS.update().where(
            NOTIFICATIONS.c.alert_id == alert_id, NOTIFICATIONS.c.event == "trigger",
            NOTIFICATIONS.c.status == PENDING).values(status=SKIPPED, last_error=reason, updated_at=now))

    def _follow_up(self, conn: Connection, alert: dict[str, Any], event: str, now: datetime) -> None:
        """Queue ``event`` to every channel (of every rule set) that got, or is sending, the alert's trigger."""
        told = conn.execute(select(NOTIFICATIONS.c.ruleset, NOTIFICATIONS.c.channel).distinct().where(
            NOTIFICATIONS.c.alert_id == alert["id"], NOTIFICATIONS.c.event == "trigger",
            NOTIFICATIONS.c.status.in_((DELIVERED, SENDING)))).all()
        for ruleset, channel in told:
            conn.execute(NOTIFICATIONS.insert().values(**notification_row(alert, channel, event, 0, now,
                                                                          ruleset=ruleset, project=self.project)))
        if self.queue is not None:
            for _, channel in told:
                self.queue.wake(channel)

    def get_alert(self, alert_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return self._get(conn, alert_id)

    def _get(self, conn, alert_id: int) -> dict[str, Any]:
        row = conn.execute(select(ALERTS).where(ALERTS.c.id == alert_id, self._mine(ALERTS))).first()
        if row is None:
            raise AlertNotFound(f"no alert with id {alert_id}")
        return alert_dict(row)

    def get_active_alerts(self, include_acknowledged: bool = True,
                          rulesets: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Firing alerts (of ``rulesets``, default all), newest first, each with ``silenced`` set when a
        silence matches it."""
        query = select(ALERTS).where(ALERTS.c.status == "firing", self._mine(ALERTS)).order_by(ALERTS.c.timestamp.desc(), ALERTS.c.id.desc())
        if not include_acknowledged:
            query = query.where(ALERTS.c.acknowledged.is_(False))
        if rulesets is not None:
            query = query.where(ALERTS.c.ruleset.in_(list(rulesets)))
        with self.engine.connect() as conn:
            alerts = [alert_dict(r) for r in conn.execute(query)]
        silences = self.active_silences()
        for alert in alerts:
            alert["silenced"] = any(matches(s["matchers"], alert) for s in silences)
        return alerts

    # --- silences ------------------------------------------------------------------------------------------

    def add_silence(self, matchers: Mapping[str, Any], by: str, ends_at: datetime | None = None,
                    duration: timedelta | None = None, comment: str | None = None,
                    starts_at: datetime | None = None) -> str:
        """Silence notifications of alerts whose labels (plus ``rule_id``, ``severity``) equal ``matchers``."""
        if not matchers:
            raise ValueError("a silence needs at least one matcher (label: value)")
        if not by:
            raise ValueError("a silence needs its author ('by')")
        now = utcnow()
        starts_at = as_utc(starts_at) or now
        ends_at = as_utc(ends_at) or (starts_at + duration if duration else None)
        if ends_at is None or ends_at <= starts_at:
            raise ValueError("a silence needs an end time after its start (ends_at or duration)")
        silence_id = uuid.uuid4().hex
        row = {"id": silence_id, "matchers": {str(k): str(v) for k, v in matchers.items()}, "starts_at": starts_at,
               "ends_at": ends_at, "created_by": str(by)[:255], "comment": comment, "created_at": now, **self._stamp}
        with write_tx(self.engine) as conn:
            conn.execute(SILENCES.insert().values(**row))
            insert_audit(conn, by, "silence", "silence", silence_id, None,
                         {"matchers": row["matchers"], "starts_at": iso(starts_at), "ends_at": iso(ends_at),
                          "comment": comment}, now, project=self.project)
        return silence_id

    def expire_silence(self, silence_id: str, by: str) -> None:
        now = utcnow()
        with write_tx(self.engine) as conn:
            row = conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id, self._mine(SILENCES))).first()
            if row is None:
                raise KeyError(f"no silence with id {silence_id}")
            conn.execute(SILENCES.update().where(SILENCES.c.id == silence_id).values(ends_at=now))
            insert_audit(conn, by, "expire_silence", "silence", silence_id, {"ends_at": iso(row.ends_at)},
                         {"ends_at": iso(now)}, now, project=row.project_id)

    def active_silences(self, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or utcnow()
        with self.engine.connect() as conn:
            rows = conn.execute(select(SILENCES).where(SILENCES.c.starts_at <= now, SILENCES.c.ends_at > now,
                                                       self._mine(SILENCES)))
            return [{**r._mapping, "starts_at": iso(r.starts_at), "ends_at": iso(r.ends_at),
                     "created_at": iso(r.created_at)} for r in rows]

    # --- escalation ------------------------------------------------------------------------------------------

    def escalate(self, now: datetime | None = None) -> int:
        """Queue the due escalation tiers of firing, unacknowledged, unsilenced alerts of this rule set and
        of the API (to this rule set's channels); returns rows queued."""
        if self.config is None or not self.config.policies:
            return 0
        now = now or utcnow()
        alerts = self.get_active_alerts(include_acknowledged=False, rulesets={self.ruleset, self.api_ruleset})
        if not alerts:
            return 0
        n = NOTIFICATIONS.c
        with self.engine.connect() as conn:
            done = {(r.alert_id, r.tier) for r in conn.execute(
                select(n.alert_id, n.tier).distinct().where(
                    n.alert_id.in_([a["id"] for a in alerts]), n.event == "trigger", n.ruleset == self.ruleset))}
        queued = 0
        queue = self.queue or NotificationQueue(self.engine, ruleset=self.ruleset, project=self.project)
        for alert in alerts:
            if alert["silenced"]:
                continue
            started = as_utc(alert["starts_at"]) or now
            alert_payload = {k: v for k, v in alert.items() if k != "silenced"}
            for tier_no, tier in enumerate(self.config.policy_for(alert["rule_id"])):
                if (alert["id"], tier_no) in done or now - started < tier.after:
                    continue
                for channel in tier.channels:  # ``now`` decides which tiers are due; rows get the real time
                    if queue.enqueue(alert_payload, channel, "trigger", tier_no) is None:
                        with write_tx(self.engine) as conn:  # deduplicated: record it so the tier is done
                            conn.execute(NOTIFICATIONS.insert().values(**notification_row(
                                alert_payload, channel, "trigger", tier_no, utcnow(), status=SUPPRESSED,
                                ruleset=self.ruleset, project=self.project)))
                    else:
                        queued += 1
        return queued

    def remind(self, now: datetime | None = None) -> int:
        """Queue a reminder (Alertmanager's ``repeat_interval``) of every firing, unacknowledged, unsilenced
        alert of this rule set or of the API whose channel was last told of it ``repeat_interval`` ago and
        has nothing of it on the way; returns rows queued."""
        queue = self.queue
        if queue is None or queue.settings.repeat_interval <= timedelta(0):
            return 0
        now = now or utcnow()
        alerts = {a["id"]: a for a in self.get_active_alerts(False, {self.ruleset, self.api_ruleset}) if not a["silenced"]}
        if not alerts:
            return 0
        n = NOTIFICATIONS.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(n.alert_id, n.channel, n.tier, n.status, n.delivered_at).where(
                n.ruleset == self.ruleset, n.alert_id.in_(list(alerts)), n.event == "trigger",
                n.status.in_((PENDING, SENDING, DELIVERED)))).all()
        last: dict[tuple[int, str], tuple[datetime, int]] = {}
        busy: set[tuple[int, str]] = set()
        for r in rows:
            key = (r.alert_id, r.channel)
            if r.status != DELIVERED:
                busy.add(key)
                continue
            at = as_utc(r.delivered_at)
            if key not in last or at > last[key][0]:
                last[key] = (at, r.tier)
        queued = 0
        for (alert_id, channel), (at, tier) in sorted(last.items(), key=lambda item: item[1][0]):
            if (alert_id, channel) in busy or now - at < queue.settings.repeat_interval:
                continue
            payload = {k: v for k, v in alerts[alert_id].items() if k != "silenced"}
            if queue.enqueue(payload, channel, "trigger", tier, repeat=True) is not None:
                queued += 1
        return queued


def matches(matchers: Mapping[str, Any], alert: Mapping[str, Any]) -> bool:
    """Whether every matcher equals the alert's label (``rule_id``, ``alertname`` and ``severity`` included)."""
    labels = {**(alert.get("labels") or {}), "rule_id": alert.get("rule_id"), "alertname": alert.get("rule_id"),
              "severity": alert.get("severity")}
    return all(str(labels.get(k)) == str(v) for k, v in matchers.items())
