"""The alerting models and the alerting Alembic revision describe the same schema; the branch downgrades
cleanly; concurrent writers cannot create two firing alerts for one fingerprint."""

from __future__ import annotations

import threading

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import agentotel.warehouse.alerting_models  # noqa: F401 - registers the tables and the index on Base.metadata
from agentotel.alerting.manager import AlertManager
from agentotel.warehouse.migrate import alembic_config, upgrade
from agentotel.warehouse.models import Base

TABLES = {"alert_rule_state", "alert_silences", "alert_notifications", "alert_channel_state", "alert_audit_log",
          "alert_engine_leases"}


def _mentions_ours(diff) -> bool:
    if isinstance(diff, list):
        return any(_mentions_ours(d) for d in diff)
    for item in diff[1:]:
        table = getattr(item, "table", None)
        names = {getattr(item, "name", None), getattr(table, "name", None), item if isinstance(item, str) else None}
        if names & (TABLES | {"uq_alerts_firing_fingerprint"}):
            return True
    return False


def test_models_match_the_migration(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _mentions_ours(d)]
    assert diffs == []
    assert TABLES <= set(inspect(engine).get_table_names())
    assert "uq_alerts_firing_fingerprint" in {i["name"] for i in inspect(engine).get_indexes("alerts")}


def test_alerting_branch_downgrades_and_upgrades_again(engine):
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "alerting@base")
    names = set(inspect(engine).get_table_names())
    assert not TABLES & names and "alerts" in names
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())


def test_concurrent_creates_make_one_firing_alert(engine):
    ids: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(5):
                ids.append(AlertManager(engine).create_alert("race", "warning", "m", {"agent": "a"}))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and len(ids) == 20
    assert len(set(ids)) == 1
    assert len(AlertManager(engine).get_active_alerts()) == 1
