"""alerting (and online evaluation): rule states, engine leases, channel states, the alerting audit log, online
claims and online watermarks carry ``project_id``, under row-level security on PostgreSQL

Revision ID: alerting_0003
Revises: alerting_0002
Create Date: 2026-12-07

Existing rows go to the ``default`` project, except the rows of a project's own rule set (``@<project>:…``,
written by ``agentotel alerts run --project`` before this revision): those go to that project. Keys:

- ``alert_rule_state`` (ruleset, rule_id, fingerprint), ``alert_channel_state`` (ruleset, channel) and
  ``alert_engine_leases`` (ruleset) keep their keys: a rule set belongs to one project (a project's rule sets
  are named ``@<project>:…``), so a key by rule set is a key per project already;
- ``alert_audit_log`` keeps its id;
- ``evaluation_online_claims`` keeps ``execution_id``: an execution belongs to one project (its claim takes
  the execution's project; existing claims too);
- ``evaluation_online_state`` is keyed by (name, project_id): the watermarks a project's evaluator kept as
  ``<name>@<project>`` become (name, project).

On PostgreSQL each table gets the policy ``project_isolation`` of tenancy_0001 and the reader's SELECT.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alerting_0003"
down_revision = "alerting_0002"
branch_labels = None
# the online tables; not tenancy_0001 (its dependencies on several branches of "0001" made Alembic's upgrade from
# "0001" fail with KeyError '0001'): without agent_executions.project_id every execution is the default project's
depends_on = "evaluation_0001"

# Self-contained: this revision never changes, whatever the models become.
DEFAULT = "default"
READER_ROLE = "agentotel_reader"
SETTING = "agentotel.project"
MATCH = f"project_id = ANY (string_to_array(current_setting('{SETTING}', true), ','))"
RULESET_TABLES = ("alert_rule_state", "alert_engine_leases", "alert_channel_state")
TABLES = (*RULESET_TABLES, "alert_audit_log", "evaluation_online_claims", "evaluation_online_state")
STATE = "evaluation_online_state"


def _project_column() -> sa.Column:
    return sa.Column("project_id", sa.String(64), nullable=False, server_default=DEFAULT)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if table != STATE:
            op.add_column(table, _project_column())
    for table in RULESET_TABLES:  # '@alpha:rules' -> alpha
        rows = bind.execute(sa.text(f"SELECT DISTINCT ruleset FROM {table} WHERE ruleset LIKE '@%:%'")).scalars()  # noqa: S608
        for ruleset in list(rows):
            op.execute(sa.text(f"UPDATE {table} SET project_id = :p WHERE ruleset = :r").bindparams(  # noqa: S608
                p=ruleset[1:].split(":", 1)[0][:64], r=ruleset))
    if "project_id" in {c["name"] for c in sa.inspect(bind).get_columns("agent_executions")}:  # after tenancy_0001
        op.execute("UPDATE evaluation_online_claims SET project_id = (SELECT e.project_id FROM agent_executions e "
                   "WHERE e.id = evaluation_online_claims.execution_id) WHERE EXISTS (SELECT 1 FROM agent_executions e "
                   "WHERE e.id = evaluation_online_claims.execution_id)")
    with op.batch_alter_table(STATE) as batch:
        batch.add_column(_project_column())
        batch.drop_constraint(f"pk_{STATE}", type_="primary")
        batch.create_primary_key(f"pk_{STATE}", ["name", "project_id"])
    for name in list(bind.execute(sa.text(f"SELECT name FROM {STATE} WHERE name LIKE '%@%'")).scalars()):  # noqa: S608
        base, project = name.rsplit("@", 1)
        op.execute(sa.text(f"UPDATE {STATE} SET name = :base, project_id = :p WHERE name = :name "  # noqa: S608
                           f"AND project_id = :default").bindparams(base=base, p=project, name=name, default=DEFAULT))
    if bind.dialect.name == "postgresql":
        _row_security()


def _row_security() -> None:
    # roles are per cluster: another database may have made it, concurrently too
    exists = f"SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}'"  # noqa: S608 - a constant
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS ({exists}) THEN CREATE ROLE {READER_ROLE} NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY project_isolation ON {table} USING ({MATCH}) WITH CHECK ({MATCH})")
        op.execute(f"GRANT SELECT ON {table} TO {READER_ROLE}")


def downgrade() -> None:
    """A project's online watermark becomes ``<name>@<project>`` again; the other columns are dropped."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP POLICY IF EXISTS project_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
            op.execute(f"REVOKE ALL ON {table} FROM {READER_ROLE}")
    rows = bind.execute(sa.text(f"SELECT name, project_id FROM {STATE} WHERE project_id <> :d"),  # noqa: S608
                        {"d": DEFAULT}).all()
    for name, project in rows:
        op.execute(sa.text(f"UPDATE {STATE} SET name = :new WHERE name = :name AND project_id = :p").bindparams(  # noqa: S608
            new=f"{name}@{project}"[:64], name=name, p=project))
    with op.batch_alter_table(STATE) as batch:
        batch.drop_constraint(f"pk_{STATE}", type_="primary")
        batch.drop_column("project_id")
        batch.create_primary_key(f"pk_{STATE}", ["name"])
    for table in TABLES:
        if table != STATE:
            with op.batch_alter_table(table) as batch:
                batch.drop_column("project_id")
