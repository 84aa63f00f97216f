"""Tables of issue 20's security work (revision ``security_0001``).

- ``content_keys``: the data keys that encrypt captured content at rest, one per project, each stored
  wrapped (AES-GCM) by the master key; ``master_fingerprint`` names the master key that wrapped it.
- ``security_audit_log``: append-only record of dashboard logins (success and failure) and of content
  decrypted for a person: who, when, what, outcome.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agentotel.warehouse.models import Base


class ContentKey(Base):
    """A project's data key, wrapped by the master key (never stored in clear)."""

    __tablename__ = "content_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255), unique=True)
    wrapped_key: Mapped[str] = mapped_column(Text)  # base64 of nonce (12 bytes) + AES-GCM(master, data key)
    master_fingerprint: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column()
    rewrapped_at: Mapped[datetime | None] = mapped_column()


class SecurityAuditEntry(Base):
    """One audited security event (append-only)."""

    __tablename__ = "security_audit_log"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))  # login | login_failed | decrypt_content | rotate_master …
    target: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | refused
    detail: Mapped[str | None] = mapped_column(Text)
