"""API keys of projects: create, list, rotate, revoke (each audited in ``key_audit_log``) and the active
keys as the receiver checks them.

A key is ``aot_<id>_<secret>``: ``id`` (8 hex digits) is public and names the key in lists and in the audit
log; the whole key is shown once, at creation or rotation, and only its SHA-256 digest is stored (a key
carries 256 random bits, so a fast digest is as safe as a slow password hash and keeps the check cheap).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from agentotel.core.projects import SCOPES, check_project_name
from agentotel.warehouse.tenancy_models import ApiKey, KeyAuditEntry, Project

KEYS = ApiKey.__table__
AUDIT = KeyAuditEntry.__table__
PROJECTS = Project.__table__
PREFIX = "aot_"


class ApiKeyError(ValueError):
    """A key operation the caller asked wrongly (unknown key, bad scope or project)."""


@dataclass(frozen=True)
class KeyInfo:
    id: str
    project: str
    scope: str
    name: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    replaced_by: str | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    key_id = secrets.token_hex(4)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def _audit(conn: Connection, actor: str, action: str, key_id: str | None, project: str, scope: str | None,
           detail: str | None = None) -> None:  # fmt: skip
    conn.execute(insert(AUDIT).values(at=datetime.now(timezone.utc), actor=actor, action=action, key_id=key_id,
                                      project_id=project, scope=scope, detail=detail))  # fmt: skip


def _insert_key(conn: Connection, project: str, scope: str, name: str | None, actor: str) -> tuple[str, str]:
    key_id, key = _new_key()
    conn.execute(insert(KEYS).values(id=key_id, project_id=project, scope=scope, digest=digest(key), name=name,
                                     created_at=datetime.now(timezone.utc), created_by=actor))  # fmt: skip
    return key_id, key


def create_key(engine: Engine, project: str, scope: str, actor: str, name: str | None = None) -> tuple[str, str]:
    """A new key of ``project`` (made if it does not exist yet) with ``scope``: (its id, the key itself,
    which is stored nowhere)."""
    check_project_name(project)
    if scope not in SCOPES:
        raise ApiKeyError(f"invalid scope {scope!r}: one of {', '.join(SCOPES)}")
    with engine.begin() as conn:
        if conn.execute(select(PROJECTS.c.name).where(PROJECTS.c.name == project)).first() is None:
            conn.execute(insert(PROJECTS).values(name=project, created_at=datetime.now(timezone.utc)))
            _audit(conn, actor, "create-project", None, project, None)
        key_id, key = _insert_key(conn, project, scope, name, actor)
        _audit(conn, actor, "create", key_id, project, scope, name)
    return key_id, key


def _active(conn: Connection, key_id: str) -> Any:
    row = conn.execute(select(KEYS).where(KEYS.c.id == key_id).with_for_update()).first()
    if row is None:
        raise ApiKeyError(f"no API key {key_id!r}")
    if row.revoked_at is not None:
        raise ApiKeyError(f"API key {key_id!r} is revoked")
    return row


def rotate_key(engine: Engine, key_id: str, actor: str) -> tuple[str, str]:
    """Revoke ``key_id`` and make a key of the same project and scope in its place: (new id, new key)."""
    with engine.begin() as conn:
        old = _active(conn, key_id)
        new_id, key = _insert_key(conn, old.project_id, old.scope, old.name, actor)
        conn.execute(update(KEYS).where(KEYS.c.id == key_id)
                     .values(revoked_at=datetime.now(timezone.utc), replaced_by=new_id))  # fmt: skip
        _audit(conn, actor, "rotate", key_id, old.project_id, old.scope, f"replaced by {new_id}")
    return new_id, key


def revoke_key(engine: Engine, key_id: str, actor: str) -> KeyInfo:
    with engine.begin() as conn:
        old = _active(conn, key_id)
        conn.execute(update(KEYS).where(KEYS.c.id == key_id).values(revoked_at=datetime.now(timezone.utc)))
        _audit(conn, actor, "revoke", key_id, old.project_id, old.scope)
    return next(k for k in list_keys(engine, include_revoked=True) if k.id == key_id)


def list_keys(engine: Engine, project: str | None = None, include_revoked: bool = False) -> list[KeyInfo]:
    query = select(KEYS).order_by(KEYS.c.project_id, KEYS.c.created_at, KEYS.c.id)
    if project is not None:
        query = query.where(KEYS.c.project_id == project)
    if not include_revoked:
        query = query.where(KEYS.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [KeyInfo(r.id, r.project_id, r.scope, r.name, r.created_at, r.created_by, r.revoked_at, r.replaced_by)
                for r in conn.execute(query)]  # fmt: skip


def active_keys(engine: Engine) -> dict[bytes, tuple[str, str]]:
    """Every key not revoked: SHA-256 digest (raw bytes) -> (project, scope)."""
    with engine.connect() as conn:
        rows = conn.execute(select(KEYS.c.digest, KEYS.c.project_id, KEYS.c.scope).where(KEYS.c.revoked_at.is_(None)))
        return {bytes.fromhex(r.digest): (r.project_id, r.scope) for r in rows}


def key_audit(engine: Engine, limit: int = 200) -> list[dict]:
    """The key audit log, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT).order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]
