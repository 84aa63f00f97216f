"""security: the row-level-security reader role may read the wrapped data keys (to decrypt) and append to the
security audit log (PostgreSQL; nothing on SQLite)

Revision ID: security_0002
Revises: security_0001
Create Date: 2026-12-07

``tenancy_0001`` makes the ``agentotel_reader`` role that scoped readers (dashboard, export, evaluation) switch
to (whichever of the two revisions runs first makes it). Encrypted content is decrypted in those readers, so the role reads ``content_keys`` (the keys are wrapped:
useless without the master key); it appends logins and decryptions to ``security_audit_log``.
"""

from __future__ import annotations

from alembic import op

revision = "security_0002"
down_revision = "security_0001"
branch_labels = None
depends_on = None

READER_ROLE = "agentotel_reader"  # Self-contained: the role tenancy_0001 makes (made here too if not yet there)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    exists = f"SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}'"  # noqa: S608 - a constant
    op.execute(  # roles are per cluster: another database may be making it at the same time
        f"DO $$ BEGIN IF NOT EXISTS ({exists}) THEN CREATE ROLE {READER_ROLE} NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    op.execute(f"GRANT SELECT ON content_keys TO {READER_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON security_audit_log TO {READER_ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE security_audit_log_id_seq TO {READER_ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"REVOKE USAGE ON SEQUENCE security_audit_log_id_seq FROM {READER_ROLE}")
    op.execute(f"REVOKE SELECT, INSERT ON security_audit_log FROM {READER_ROLE}")
    op.execute(f"REVOKE SELECT ON content_keys FROM {READER_ROLE}")  # noqa: S608 - a constant role
