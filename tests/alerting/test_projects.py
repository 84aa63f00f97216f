"""Issue 20: ``agentotel alerts ... --project P`` on SQLite and PostgreSQL: the rules run for a project read only
its telemetry (through the scoped engine) and fire on its failures only; its alerts, silences and
notifications carry the project, and ``list``/``ack``/``silence`` of another project never see them."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from agentotel.cli import main
from agentotel.warehouse.alerting_models import AlertSilence
from agentotel.warehouse.models import AgentExecution, Alert
from tests.support.projects import make_projects

# bot's error rate: alpha 5/10, beta 0/10; both together 5/20 = 0.25, above the threshold too, so a rule run
# for beta that read alpha's executions would fire
RULES = """
rules:
  - id: bot-error-rate
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 5m
    op: ">"
    value: 0.2
    message: "{agent}: error rate {value:.0%}"
  - id: bot-error-rate-for-an-hour
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 5m
    op: ">"
    value: 0.2
    for: 1h
"""


def seed(engine, now: datetime) -> None:
    rows = []
    for project, failures in (("alpha", 5), ("beta", 0)):
        for i in range(10):
            trace = f"{project:0>8}{i:024x}"[-32:]
            rows.append({"id": f"{trace}-{i:016x}", "trace_id": trace, "span_id": f"{i:016x}", "agent_name": "bot",
                         "timestamp": now - timedelta(seconds=30), "duration_ms": 100.0, "tokens_used": 10,
                         "success": i >= failures, "error_message": None if i >= failures else "boom",
                         "project_id": project})
    with engine.begin() as conn:
        conn.execute(insert(AgentExecution), rows)


def _alerts(engine) -> dict[int, tuple[str, str]]:
    with engine.connect() as conn:
        return {r.id: (r.project_id, r.status) for r in conn.execute(select(Alert.id, Alert.project_id, Alert.status))}


@pytest.mark.slow
@pytest.mark.parametrize("rollups", [False, True], ids=["raw", "rollups"])
def test_alerts_of_a_project_come_from_its_telemetry_and_stay_in_it(db_url, engine, tmp_path, capsys, rollups):
    make_projects(engine, "alpha", "beta")
    now = datetime.now(timezone.utc)
    seed(engine, now)
    if rollups:  # as under `agentotel up`: the rules read each project's rollup rows and the raw rows after them
        from agentotel.warehouse.rollups import refresh_rollups

        assert refresh_rollups(engine, lateness=timedelta(0), now=now + timedelta(minutes=2)) > 0
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)

    assert main(["alerts", "run", "--once", "--rules", str(rules), "--db", db_url, "--project", "beta"]) == 0
    assert "fired" not in capsys.readouterr().out  # beta's bot never fails
    assert _alerts(engine) == {}
    assert main(["alerts", "run", "--once", "--rules", str(rules), "--db", db_url, "--project", "alpha"]) == 0
    assert "fired 1" in capsys.readouterr().out
    ((alert_id, (project, status)),) = _alerts(engine).items()
    assert (project, status) == ("alpha", "firing")
    # beta again, and the default project (no --project: it has no executions), same rules file: each its own
    # rule set, nothing fires (and alpha's alert is untouched)
    for other in (["--project", "beta"], []):
        assert main(["alerts", "run", "--once", "--rules", str(rules), "--db", db_url, *other]) == 0
        assert "fired" not in capsys.readouterr().out and _alerts(engine) == {alert_id: ("alpha", "firing")}

    assert main(["alerts", "list", "--db", db_url, "--project", "alpha"]) == 0
    listed = capsys.readouterr().out
    assert re.search(rf"^\s*{alert_id}\s+firing .*bot-error-rate .*agent=bot", listed, re.M)
    assert re.search(r"^\s*-\s+pending .*bot-error-rate-for-an-hour .*agent=bot", listed, re.M)
    for other in (["--project", "beta"], []):  # beta, and the default project (no --project) as before
        assert main(["alerts", "list", "--db", db_url, *other]) == 0
        assert capsys.readouterr().out.strip() == "no firing or pending alerts"
        assert main(["alerts", "ack", str(alert_id), "--by", "mallory", "--db", db_url, *other]) == 2
        assert capsys.readouterr().err.strip() == f"agentotel: error: no alert with id {alert_id}"
        assert main(["alerts", "resolve", str(alert_id), "--db", db_url, *other]) == 2
        capsys.readouterr()
    assert _alerts(engine) == {alert_id: ("alpha", "firing")}
    assert main(["alerts", "ack", str(alert_id), "--by", "alice", "--db", db_url, "--project", "alpha"]) == 0
    assert f"alert {alert_id} acknowledged by alice" in capsys.readouterr().out

    assert main(["alerts", "silence", "--match", "agent=bot", "--for", "1h", "--by", "bob", "--db", db_url,
                 "--project", "beta"]) == 0
    silence_id = re.search(r"silence ([0-9a-f]{32}) created", capsys.readouterr().out).group(1)
    with engine.connect() as conn:
        assert conn.execute(select(AlertSilence.project_id).where(AlertSilence.id == silence_id)).scalar() == "beta"
    assert main(["alerts", "silence", "list", "--db", db_url, "--project", "alpha"]) == 0
    assert silence_id not in capsys.readouterr().out
    assert main(["alerts", "silence", "expire", silence_id[:8], "--by", "mallory", "--db", db_url,
                 "--project", "alpha"]) == 2
    assert "no silence with an id starting" in capsys.readouterr().err
    assert main(["alerts", "silence", "list", "--db", db_url, "--project", "beta"]) == 0
    assert silence_id in capsys.readouterr().out


def test_an_unknown_project_is_one_line_and_exit_2(db_url, capsys):
    assert main(["alerts", "list", "--db", db_url, "--project", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown project 'nosuch'" in err


def test_the_same_api_alert_in_two_projects_is_two_alerts(engine):
    from agentotel.alerting.manager import AlertManager

    alpha, beta = AlertManager(engine, project="alpha"), AlertManager(engine, project="beta")
    first = alpha.create_alert("evaluation.regression", "warning", "worse", labels={"agent": "bot"})
    second = beta.create_alert("evaluation.regression", "warning", "worse", labels={"agent": "bot"})
    assert first != second
    assert alpha.create_alert("evaluation.regression", "critical", "much worse", labels={"agent": "bot"}) == first
    assert [a["id"] for a in alpha.get_active_alerts()] == [first]
    assert [a["id"] for a in beta.get_active_alerts()] == [second]
    assert _alerts(engine) == {first: ("alpha", "firing"), second: ("beta", "firing")}


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_login_that_cannot_take_the_reader_role_is_one_line(db_url, engine, tmp_path, capsys):
    """The rules of a project read as agentotel_reader: a login without that role gets one line saying what to
    grant, at the start (never a round of rule errors, never the owner's unrestricted view)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    make_projects(engine, "alpha")
    login = f"lim_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {login} LOGIN"))
        conn.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {login}"))
        conn.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {login}"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    url = make_url(db_url).set(username=login, password=None).render_as_string(hide_password=False)
    try:
        assert main(["alerts", "run", "--once", "--rules", str(rules), "--db", url, "--project", "alpha"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "cannot read project 'alpha' as the row-secured reader" in err
        assert "GRANT agentotel_reader TO the database login" in err
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {login}"))
            conn.execute(text(f"DROP ROLE {login}"))


# a rule that fires in both projects (error rate >= 0), one pending for an hour, a channel every alert goes to
STATE_RULES = """
channels:
  console: {type: log, level: error}
escalation_policies:
  default: [{after: 0s, channels: [console]}]
rules:
  - id: bot-seen
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 5m
    op: ">="
    value: 0
  - id: bot-seen-for-an-hour
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 5m
    op: ">="
    value: 0
    for: 1h
"""
STATE_TABLES = ("alert_rule_state", "alert_engine_leases", "alert_channel_state", "alert_audit_log")


def _stamps(engine) -> dict[str, list[tuple[str, str]]]:
    """Per alerting state table: (ruleset or audit action, project_id) of every row, sorted."""
    from agentotel.warehouse.alerting_models import (
        AlertAuditLog,
        AlertChannelState,
        AlertEngineLease,
        AlertRuleState,
    )

    out = {}
    with engine.connect() as conn:
        for model in (AlertRuleState, AlertEngineLease, AlertChannelState):
            out[model.__tablename__] = sorted(conn.execute(select(model.ruleset, model.project_id)).tuples())
        out["alert_audit_log"] = sorted(conn.execute(select(AlertAuditLog.action, AlertAuditLog.project_id)).tuples())
    return out


def test_rule_states_leases_channel_states_and_audit_belong_to_the_project_run(db_url, engine, tmp_path, capsys):
    """``alerts run --project alpha`` and ``--project beta`` on one rules file: each keeps its own rule states,
    lease, channel state and audit rows, stamped with its project (the same rules file is loaded in each, so
    each project audits its own config_load); audit and lists of one project never show the other's; on
    PostgreSQL the reader of beta sees none of alpha's rows in these tables."""
    from agentotel.alerting import queries as q

    make_projects(engine, "alpha", "beta")
    seed(engine, datetime.now(timezone.utc))
    rules = tmp_path / "rules.yaml"
    rules.write_text(STATE_RULES)
    for project in ("alpha", "beta"):
        assert main(["alerts", "run", "--once", "--rules", str(rules), "--db", db_url, "--project", project]) == 0
        assert "fired 1" in capsys.readouterr().out
    ruleset = {p: f"@{p}:{rules.resolve()}" for p in ("alpha", "beta")}
    stamps = _stamps(engine)
    for table in ("alert_rule_state", "alert_channel_state", "alert_engine_leases"):
        per_series = 2 if table == "alert_rule_state" else 1  # the firing and the pending series
        assert stamps[table] == sorted([(ruleset["alpha"], "alpha")] * per_series
                                       + [(ruleset["beta"], "beta")] * per_series), table
    assert stamps["alert_audit_log"] == [("config_load", "alpha"), ("config_load", "beta"), ("create", "alpha"),
                                         ("create", "beta")]
    [alpha_alert] = [a for a in q.alerts(engine, project="alpha")]
    assert main(["alerts", "ack", str(alpha_alert["id"]), "--by", "alice", "--db", db_url, "--project", "alpha"]) == 0
    capsys.readouterr()

    assert [(r["actor"], r["action"]) for r in q.audit_log(engine, project="alpha")] == [
        ("alice", "acknowledge"), ("rule-engine", "create"), ("system", "config_load")]
    assert [(r["actor"], r["action"]) for r in q.audit_log(engine, project="beta")] == [
        ("rule-engine", "create"), ("system", "config_load")]
    for project in ("alpha", "beta"):
        assert {r["ruleset"] for r in q.channel_stats(engine, project=project)} == {ruleset[project]}
        assert {r["ruleset"] for r in q.engine_leases(engine, project=project)} == {ruleset[project]}
        assert {r["ruleset"] for r in q.pending_series(engine, project=project)} == {ruleset[project]}
        assert main(["alerts", "list", "--db", db_url, "--project", project]) == 0
        listed = capsys.readouterr().out
        assert listed.count("bot-seen-for-an-hour") == 1 and listed.count("firing") == 1
    assert q.channel_stats(engine, project="default") == [] and q.audit_log(engine, project="default") == []
    # a second round of alpha: its own states again, beta's untouched
    before = _stamps(engine)
    assert main(["alerts", "run", "--once", "--rules", str(rules), "--db", db_url, "--project", "alpha"]) == 0
    capsys.readouterr()
    after = _stamps(engine)
    assert {t: after[t] for t in STATE_TABLES if t != "alert_audit_log"} == \
        {t: before[t] for t in STATE_TABLES if t != "alert_audit_log"}

    if engine.dialect.name == "postgresql":
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        reader = create_engine(engine.url, poolclass=NullPool)  # a connection of its own, never back in a pool
        try:
            with reader.connect() as conn:
                conn.execute(text("SET ROLE agentotel_reader"))
                conn.execute(text("SELECT set_config('agentotel.project', 'beta', false)"))
                for table in STATE_TABLES:
                    seen = set(conn.execute(text(f"SELECT DISTINCT project_id FROM {table}")).scalars())  # noqa: S608
                    assert seen == {"beta"}, table
        finally:
            reader.dispose()


def test_a_rules_file_cannot_name_its_rule_set_as_a_projects():
    """``@<project>:…`` names a project's own rule set (its states, lease and channel states are that project's)."""
    from agentotel.alerting.config import RuleError, parse_rules

    with pytest.raises(RuleError, match="must not start with '@'"):
        parse_rules(STATE_RULES + "settings: {namespace: '@alpha:rules'}\n", "rules.yaml")
    assert parse_rules(STATE_RULES + "settings: {namespace: 'team-a'}\n", "rules.yaml").ruleset == "team-a"
