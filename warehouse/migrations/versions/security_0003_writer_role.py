"""security: the ``agentotel_writer`` role the receiver's writers take per transaction, bound by row-level
security to the projects of the batch they write (PostgreSQL; nothing on SQLite)

Revision ID: security_0003
Revises: security_0002
Create Date: 2026-12-07

Until this revision the writers wrote as the tables' owner, whom the policies of ``tenancy_0001`` do not bind.
The role (NOLOGIN) may read and write the ingest tables only; the login that migrates is made a member, so
the receiver (the same login, as a rule) can ``SET LOCAL ROLE agentotel_writer`` after setting
``agentotel.project``: a row of another project is then invisible to it and refused on insert or update.
"""

from __future__ import annotations

from alembic import op

revision = "security_0003"
down_revision = "security_0002"
branch_labels = None
# made the policies, and depends on the revisions that made the tables granted here
depends_on = "tenancy_0001"

# Self-contained: this revision never changes, whatever the models become.
WRITER_ROLE = "agentotel_writer"
WRITE = "SELECT, INSERT, UPDATE, DELETE"
WRITER_GRANTS = {
    "spans": WRITE, "llm_calls": WRITE, "tool_calls": WRITE, "agent_executions": WRITE, "metrics": WRITE,
    "logs": WRITE, "span_content_index": WRITE, "agents": "SELECT, INSERT, UPDATE", "content_keys": "SELECT, INSERT",
    "projects": "SELECT",
}  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    exists = f"SELECT 1 FROM pg_roles WHERE rolname = '{WRITER_ROLE}'"  # noqa: S608 - a constant
    op.execute(  # roles are per cluster: another database may be making it at the same time
        f"DO $$ BEGIN IF NOT EXISTS ({exists}) THEN CREATE ROLE {WRITER_ROLE} NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    op.execute(  # a superuser may take any role; another login becomes a member
        f"DO $$ BEGIN IF NOT pg_has_role(current_user, '{WRITER_ROLE}', 'MEMBER') THEN "
        f"EXECUTE format('GRANT {WRITER_ROLE} TO %I', current_user); END IF; END $$"
    )
    for table, privileges in WRITER_GRANTS.items():
        op.execute(f"GRANT {privileges} ON {table} TO {WRITER_ROLE}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {WRITER_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {WRITER_ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"REVOKE USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public FROM {WRITER_ROLE}")  # noqa: S608
    for table in WRITER_GRANTS:
        op.execute(f"REVOKE ALL ON {table} FROM {WRITER_ROLE}")  # noqa: S608 - constants
