"""Which engine evaluates a rule set: a lease in the database (table ``alert_engine_leases``).

Several engines may run the same rule set (same rules file or ``settings.namespace``) for high
availability. One of them holds the lease and evaluates; it renews the lease well within ``ttl``. When it
dies (``kill -9``, a lost host), it stops renewing, the lease runs out and another engine takes it over on
its next try. With the service's settings (``ttl`` = 1.25 evaluation intervals, a try every ``ttl / 6``) a
standby starts evaluating within 1.5 intervals of the holder's death.

The engine's round commits its states only while it holds the lease (``fence``), so an engine that was
paused past its lease saves nothing. Holders compare their clock with the stored expiry: the hosts' clocks
must agree to well within ``ttl`` (NTP).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, Engine, and_, case, or_, select, update

from agentotel.alerting.store import LEASES, of_project, stamp, write_tx
from agentotel.core.utc import as_utc, utcnow
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

_NEVER = datetime(1970, 1, 1, tzinfo=timezone.utc)


def holder_id() -> str:
    """This engine's name in the lease table: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:255]


class EngineLease:
    """The lease of ``ruleset`` (a rule set of ``project``; None: ``default``) as seen by ``holder``."""

    def __init__(self, engine: Engine, ruleset: str, ttl: timedelta, holder: str | None = None,
                 project: str | None = None) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the lease needs a positive ttl")
        self.engine = engine
        self.ruleset = ruleset
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.project = project
        self._mine = and_(LEASES.c.ruleset == ruleset, of_project(LEASES, project))
        self.held_until: datetime | None = None

    def acquire(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free or expired, or renew it if held; returns whether this engine holds it."""
        now = now or utcnow()
        was_held = self.held(now)
        t = LEASES.c
        values = {"holder": self.holder, "renewed_at": now, "expires_at": now + self.ttl,
                  "acquired_at": case((t.holder == self.holder, t.acquired_at), else_=now)}
        take = update(LEASES).where(self._mine, or_(t.holder == self.holder, t.expires_at < now))
        with write_tx(self.engine) as conn:
            previous = conn.execute(select(t.holder, t.expires_at).where(self._mine)).first()
            if previous is None:
                insert_on_conflict(conn, LEASES, [{"ruleset": self.ruleset, "holder": "", "acquired_at": now,
                                                   "renewed_at": now, "expires_at": _NEVER, **stamp(self.project)}],
                                   ["ruleset"])
            held = bool(conn.execute(take.values(**values)).rowcount)
        self.held_until = now + self.ttl if held else None
        if held and not was_held:
            before = f" (after {previous.holder}, lease ran out {as_utc(previous.expires_at).isoformat()})" \
                if previous is not None and previous.holder and previous.holder != self.holder else ""
            logger.info("rule set %s: engine %s evaluates now%s", self.ruleset or "<api>", self.holder, before)
        elif was_held and not held:
            logger.warning("rule set %s: engine %s lost the lease", self.ruleset or "<api>", self.holder)
        return held

    def held(self, now: datetime | None = None) -> bool:
        """Whether this engine held the lease at its last renewal and it has not run out since."""
        return self.held_until is not None and (now or utcnow()) < self.held_until

    def fence(self, conn: Connection, now: datetime) -> bool:
        """Inside a write transaction: true (and the round recorded) only while this engine holds the lease."""
        t = LEASES.c
        result = conn.execute(update(LEASES).where(
            self._mine, t.holder == self.holder, t.expires_at > utcnow()).values(last_round_at=now))
        return bool(result.rowcount)

    def release(self) -> None:
        """Give the lease up (a clean stop): a standby takes over on its next try instead of after ``ttl``."""
        if self.held_until is None:
            return
        now = utcnow()
        t = LEASES.c
        with write_tx(self.engine) as conn:
            conn.execute(update(LEASES).where(self._mine, t.holder == self.holder).values(
                expires_at=now, renewed_at=now))
        self.held_until = None

    def current(self) -> tuple[str, datetime] | None:
        """The holder and expiry stored now (any engine), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(LEASES.c.holder, LEASES.c.expires_at).where(self._mine)).first()
        return None if row is None or not row.holder else (str(row.holder), as_utc(row.expires_at))
