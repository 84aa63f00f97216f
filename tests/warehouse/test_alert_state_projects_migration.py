"""Revision alerting_0003 on a filled warehouse (SQLite and PostgreSQL): rule states, leases, channel states, audit
rows and online claims and watermarks written before it keep their values as the ``default`` project's; the rows
of a project's own rule set (``@alpha:…``) become alpha's, a claim takes its execution's project and a project's
watermark ``<name>@alpha`` becomes (name, alpha); a downgrade gives the old watermark name back."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from sqlalchemy import MetaData, Table, inspect, select

from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.migrate import alembic_config, current_revisions, upgrade
from tests.warehouse.support import upgrade_to_just_before

REVISION = "alerting_0003"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
ALPHA_SET = "@alpha:/etc/rules.yaml"



def _old_rows(engine) -> None:
    """Rows as the code before the revision wrote them (reflected tables: the old columns)."""
    metadata = MetaData()
    with engine.begin() as conn:
        t = {name: Table(name, metadata, autoload_with=conn) for name in (
            "alert_rule_state", "alert_engine_leases", "alert_channel_state", "alert_audit_log",
            "evaluation_online_claims", "evaluation_online_state", "agent_executions")}
        assert "project_id" not in t["alert_rule_state"].c and "project_id" not in t["evaluation_online_state"].c
        conn.execute(t["alert_rule_state"].insert(), [
            {"ruleset": rs, "rule_id": "r", "fingerprint": "f", "state": "pending", "active_since": T0}
            for rs in ("/etc/rules.yaml", ALPHA_SET)])
        conn.execute(t["alert_engine_leases"].insert(), [
            {"ruleset": rs, "holder": "h", "acquired_at": T0, "renewed_at": T0, "expires_at": T0}
            for rs in ("/etc/rules.yaml", ALPHA_SET)])
        conn.execute(t["alert_channel_state"].insert(), [
            {"ruleset": rs, "channel": "chat", "deliveries_total": 3, "failures_total": 1}
            for rs in ("/etc/rules.yaml", ALPHA_SET)])
        conn.execute(t["alert_audit_log"].insert().values(timestamp=T0, actor="alice", action="silence",
                                                          target_type="silence", target_id="s1"))
        executions = t["agent_executions"]
        required = {c.name: False if c.name.startswith("is_") else 0 for c in executions.c  # the counters
                    if not c.nullable and c.server_default is None}
        conn.execute(executions.insert(), [
            {**required, "id": f"{i:032x}-{i:016x}", "trace_id": f"{i:032x}", "span_id": f"{i:016x}", "timestamp": T0,
             "success": True, "project_id": project} for i, project in ((1, "default"), (2, "alpha"))])
        conn.execute(t["evaluation_online_claims"].insert(), [
            {"execution_id": execution_id, "execution_time": T0, "sampled": True, "status": "scored", "worker": "w",
             "claimed_at": T0} for execution_id in (f"{1:032x}-{1:016x}", f"{2:032x}-{2:016x}", "gone-execution")])
        conn.execute(t["evaluation_online_state"].insert(), [
            {"name": name, "watermark": T0, "updated_at": T0} for name in ("default", "default@alpha")])


def _rows(engine, table: str, *columns: str) -> list[tuple]:
    with engine.connect() as conn:
        reflected = Table(table, MetaData(), autoload_with=conn)
        return sorted(tuple(r) for r in conn.execute(select(*(reflected.c[c] for c in columns))))


def test_the_revision_keeps_old_rows_as_default_and_projects_rule_sets_as_theirs(empty_url):
    engine = create_db_engine(empty_url)
    try:
        upgrade_to_just_before(engine, REVISION)
        _old_rows(engine)
        upgrade(engine)
        assert REVISION in current_revisions(engine)
        for table in ("alert_rule_state", "alert_engine_leases", "alert_channel_state"):
            assert _rows(engine, table, "ruleset", "project_id") == [("/etc/rules.yaml", "default"),
                                                                     (ALPHA_SET, "alpha")], table
        assert _rows(engine, "alert_channel_state", "deliveries_total", "failures_total") == [(3, 1), (3, 1)]
        assert _rows(engine, "alert_audit_log", "actor", "project_id") == [("alice", "default")]
        assert _rows(engine, "evaluation_online_claims", "execution_id", "project_id") == [
            (f"{1:032x}-{1:016x}", "default"), (f"{2:032x}-{2:016x}", "alpha"), ("gone-execution", "default")]
        assert _rows(engine, "evaluation_online_state", "name", "project_id") == [("default", "alpha"),
                                                                                  ("default", "default")]
        assert inspect(engine).get_pk_constraint("evaluation_online_state")["constrained_columns"] == [
            "name", "project_id"]

        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "alerting_0002")
        assert _rows(engine, "evaluation_online_state", "name") == [("default",), ("default@alpha",)]
        assert "project_id" not in {c["name"] for c in inspect(engine).get_columns("alert_rule_state")}
        assert _rows(engine, "alert_rule_state", "ruleset") == [("/etc/rules.yaml",), (ALPHA_SET,)]
    finally:
        engine.dispose()
