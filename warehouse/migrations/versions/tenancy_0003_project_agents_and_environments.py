"""tenancy: agents and the registry's environments are per project

Revision ID: tenancy_0003
Revises: tenancy_0002
Create Date: 2026-12-07

``agents`` gets ``project_id`` (existing rows: ``default``) and its unique key becomes
``(project_id, name, version)``, under the row-level security policy ``project_isolation`` of tenancy_0001 on
PostgreSQL (the reader's SELECT and the writer role's SELECT, INSERT, UPDATE were granted by tenancy_0001 and
security_0003). ``registry_environments`` (which has ``project_id`` since tenancy_0001) is unique per
``(project_id, agent_name, environment)`` instead of ``(agent_name, environment)``.

SQLite rebuilds both tables (batch mode): ``agents`` is referenced by executions (ON DELETE SET NULL) and the
registry (RESTRICT), and dropping the old table would run those actions, so its rebuild runs with foreign keys
off, outside the migration's transaction, and checks the references before committing. ``spans`` is not
touched. A downgrade fails (unique violation) when two projects hold the same agent version or environment.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "tenancy_0003"
down_revision = "tenancy_0002"
branch_labels = None
depends_on = None  # agents (0001) and registry_environments (registry_0001) come before tenancy_0001

# Self-contained: this revision never changes, whatever the models become.
DEFAULT = "default"
READER_ROLE = "agentotel_reader"
SETTING = "agentotel.project"
MATCH = f"project_id = ANY (string_to_array(current_setting('{SETTING}', true), ','))"
AGENTS_OLD = ("uq_agents_name_version", ["name", "version"])
AGENTS_NEW = ("uq_agents_project_id_name_version", ["project_id", "name", "version"])
ENVS_OLD = ("uq_registry_environments_agent_name_environment", ["agent_name", "environment"])
ENVS_NEW = ("uq_registry_environments_project_id_agent_name_environment", ["project_id", "agent_name", "environment"])


def _project_column() -> sa.Column:
    return sa.Column("project_id", sa.String(64), nullable=False, server_default=DEFAULT)


def _without_foreign_keys(change: Callable[[], None]) -> None:
    """SQLite: run ``change`` in a transaction of its own with foreign keys off (``PRAGMA foreign_keys`` is a
    no-op inside a transaction), refusing to commit if a reference broke; the caller's transaction resumes."""
    bind = op.get_bind()
    dbapi = bind.connection.dbapi_connection
    if dbapi is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("tenancy_0003: no database connection")
    resume = dbapi.in_transaction
    if resume:
        bind.exec_driver_sql("COMMIT")  # the revisions before this one (their rows of alembic_version too)
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        bind.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            change()
            broken = bind.exec_driver_sql("PRAGMA foreign_key_check").first()
            if broken is not None:
                raise RuntimeError(f"tenancy_0003: a reference broke in {broken[0]} (row {broken[1]})")
        except BaseException:
            bind.exec_driver_sql("ROLLBACK")
            raise
        bind.exec_driver_sql("COMMIT")
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        if resume:
            bind.exec_driver_sql("BEGIN")


def _swap_unique(table: str, old: tuple[str, list[str]], new: tuple[str, list[str]], add: bool) -> None:
    with op.batch_alter_table(table) as batch:
        if add:
            batch.add_column(_project_column())
        batch.drop_constraint(old[0], type_="unique")
        batch.create_unique_constraint(new[0], new[1])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # committed on its own: a run that failed after it (version not recorded) finds it done
        if "project_id" not in {c["name"] for c in sa.inspect(bind).get_columns("agents")}:
            _without_foreign_keys(lambda: _swap_unique("agents", AGENTS_OLD, AGENTS_NEW, add=True))
    else:
        op.add_column("agents", _project_column())
        op.drop_constraint(AGENTS_OLD[0], "agents", type_="unique")
        op.create_unique_constraint(AGENTS_NEW[0], "agents", AGENTS_NEW[1])
    _swap_unique("registry_environments", ENVS_OLD, ENVS_NEW, add=False)
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE agents ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY project_isolation ON agents USING ({MATCH}) WITH CHECK ({MATCH})")
        op.execute(f"GRANT SELECT ON agents TO {READER_ROLE}")


def downgrade() -> None:
    bind = op.get_bind()
    _swap_unique("registry_environments", ENVS_NEW, ENVS_OLD, add=False)
    if bind.dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS project_isolation ON agents")
        op.execute("ALTER TABLE agents DISABLE ROW LEVEL SECURITY")
        op.drop_constraint(AGENTS_NEW[0], "agents", type_="unique")
        op.create_unique_constraint(AGENTS_OLD[0], "agents", AGENTS_OLD[1])
        op.drop_column("agents", "project_id")
        return

    def _back() -> None:
        with op.batch_alter_table("agents") as batch:
            batch.drop_constraint(AGENTS_NEW[0], type_="unique")
            batch.create_unique_constraint(AGENTS_OLD[0], AGENTS_OLD[1])
            batch.drop_column("project_id")

    _without_foreign_keys(_back)
