"""Encryption at rest of captured content: the master key, the per-project data keys, and their rotation.

Envelope encryption: each project's content is encrypted with its own 256-bit data key (AES-GCM, a random
96-bit nonce per value); the data key is stored in ``content_keys`` only wrapped by the master key
(AES-GCM, the project name as associated data). The master key never touches the database: it comes from
``AGENTOTEL_MASTER_KEY`` / ``_FILE`` (``DatabaseSettings.master_key``, 32 random bytes in URL-safe base64;
``agentotel keys new-master`` prints one). Rotating the master key re-wraps the data keys and rewrites no
content row. A row's value names its data key, so a project's key is one lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
import weakref
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from agentotel.core.secrets import register_secret
from agentotel.warehouse.content_cipher import PREFIX, ContentKeyError, attach_keyring, keyring_of
from agentotel.warehouse.security_models import ContentKey

KEYS = ContentKey.__table__
DEFAULT_PROJECT = "default"
NONCE_BYTES = 12


def new_master_key() -> str:
    """A fresh master key (32 random bytes, URL-safe base64)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def parse_master_key(text: str) -> bytes:
    """The 32 bytes of a master key given as URL-safe or standard base64; ContentKeyError otherwise."""
    value = text.strip()
    try:
        raw = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ContentKeyError("the master key must be 32 random bytes in base64 (44 characters); "
                              "'agentotel keys new-master' prints one")
    register_secret(value)
    return raw


def fingerprint(master: bytes) -> str:
    """A public name of a master key (stored beside the data keys it wrapped; reveals nothing of it)."""
    return hashlib.sha256(b"agentotel-master-key:" + master).hexdigest()[:16]


def _wrap(master: bytes, project: str, data_key: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(master).encrypt(nonce, data_key, project.encode())).decode()


def _unwrap(master: bytes, row: Any) -> bytes:
    if row.master_fingerprint != fingerprint(master):
        raise ContentKeyError(
            f"the master key (fingerprint {fingerprint(master)}) is not the one that wrapped the data key of "
            f"project {row.project_id!r} (fingerprint {row.master_fingerprint}): set AGENTOTEL_MASTER_KEY to that key")
    wrapped = base64.b64decode(row.wrapped_key)
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], row.project_id.encode())
    except InvalidTag:
        raise ContentKeyError(f"the data key of project {row.project_id!r} does not open with this master key "
                              "(damaged or tampered with)") from None


class Keyring:
    """Encrypts and decrypts captured content of the warehouse ``engine`` with the master key ``master_key``.

    Data keys are read (and, for a project without one, created) on first use and cached; thread-safe.
    """

    def __init__(self, engine: Engine, master_key: str) -> None:
        self._engine = weakref.ref(engine)
        self._master = parse_master_key(master_key)
        self.fingerprint = fingerprint(self._master)
        self._ciphers: dict[int, AESGCM] = {}
        self._project_key: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- keys ------------------------------------------------------------------------------------------
    def _engine_or_fail(self) -> Engine:
        engine = self._engine()
        if engine is None:
            raise ContentKeyError("the warehouse of this keyring is closed")
        return engine

    def _load(self, where: Any) -> Any:
        with self._engine_or_fail().connect() as conn:
            return conn.execute(select(KEYS).where(where)).first()

    def _remember(self, row: Any) -> int:
        self._ciphers[row.id] = AESGCM(_unwrap(self._master, row))
        self._project_key[row.project_id] = row.id
        return row.id

    def key_id(self, project: str = DEFAULT_PROJECT) -> int:
        """The id of ``project``'s data key, created (and stored wrapped) if it has none yet."""
        found = self._project_key.get(project)
        if found is not None:
            return found
        with self._lock:
            row = self._load(KEYS.c.project_id == project)
            if row is None:
                data_key = AESGCM.generate_key(bit_length=256)
                try:
                    with self._engine_or_fail().begin() as conn:
                        conn.execute(insert(KEYS).values(
                            project_id=project, wrapped_key=_wrap(self._master, project, data_key),
                            master_fingerprint=self.fingerprint, created_at=datetime.now(timezone.utc)))
                except IntegrityError:  # another process made it first: use theirs
                    pass
                row = self._load(KEYS.c.project_id == project)
            return self._remember(row)

    def _cipher(self, key_id: int) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            with self._lock:
                row = self._load(KEYS.c.id == key_id)
                if row is None:
                    raise ContentKeyError(f"encrypted content names data key {key_id}, which this warehouse does "
                                          "not hold (a restore without its content_keys table?)")
                self._remember(row)
                cipher = self._ciphers[key_id]
        return cipher

    # -- values ----------------------------------------------------------------------------------------
    def encrypt(self, value: Any, project: str = DEFAULT_PROJECT) -> str:
        """The stored form of ``value`` (a string, or any JSON value) under ``project``'s data key."""
        key_id = self.key_id(project)
        kind, clear = ("s", value) if isinstance(value, str) else ("j", json.dumps(value, separators=(",", ":")))
        head = f"{PREFIX}{kind}{key_id}:"
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, clear.encode("utf-8", "surrogatepass"), head.encode())
        return head + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> Any:
        """The clear value of a stored ``token``; ContentKeyError if it cannot be opened (never a wrong value)."""
        head, sep, body = token.rpartition(":")
        spec = head[len(PREFIX):]
        if not sep or not token.startswith(PREFIX) or len(spec) < 2 or spec[0] not in "sj" or not spec[1:].isdigit():
            raise ContentKeyError("a stored encrypted value is malformed")
        try:
            raw = base64.b64decode(body, validate=True)
            clear = self._cipher(int(spec[1:])).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], (head + ":").encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise ContentKeyError("a stored encrypted value does not open with its data key (damaged or tampered "
                                  "with)") from None
        text = clear.decode("utf-8", "surrogatepass")
        return text if spec[0] == "s" else json.loads(text)


def enable_encryption(engine: Engine, master_key: str | None) -> Keyring | None:
    """Attach a keyring of ``master_key`` to ``engine`` (reads decrypt, the pipeline encrypts); None: off."""
    if not master_key:
        return None
    existing = keyring_of(engine)
    if existing is not None:
        return existing
    keyring = Keyring(engine, master_key)
    attach_keyring(engine, keyring)
    return keyring


def rotate_master(engine: Engine, old_master_key: str, new_master_key: str) -> int:
    """Re-wrap every data key of the warehouse from the old master key to the new one, in one transaction;
    content rows are not touched. Returns the number of data keys re-wrapped. Fails (changing nothing) if any
    data key does not open with ``old_master_key``."""
    old, new = parse_master_key(old_master_key), parse_master_key(new_master_key)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        rows = conn.execute(select(KEYS).with_for_update()).all()
        for row in rows:
            data_key = _unwrap(old, row)
            conn.execute(update(KEYS).where(KEYS.c.id == row.id).values(
                wrapped_key=_wrap(new, row.project_id, data_key), master_fingerprint=fingerprint(new),
                rewrapped_at=now))
    return len(rows)
