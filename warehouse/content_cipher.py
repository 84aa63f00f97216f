"""The stored form of encrypted captured content, and which engine decrypts with which keyring.

An encrypted value is one string, ``agentotel:enc:v1:<kind><key id>:<base64 nonce+ciphertext>``, where kind is
``s`` (a string) or ``j`` (any other JSON value, encrypted as its JSON text). It sits where the clear value
would (a text column, or a value inside a JSON column), so the schema is the same with encryption on or off
and rows of both kinds can coexist. The content column types (``types.ContentText`` / ``ContentJSON``) turn
such strings back into clear values when read, with the keyring attached to the engine; kept apart from
``content_keys`` (the keys and their table) so that the column types import no model.
"""

from __future__ import annotations

from typing import Any, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect

from agentotel.core.errors import CommandError

PREFIX = "agentotel:enc:v1:"

MISSING_KEY_MESSAGE = (
    "captured content in this warehouse is encrypted at rest and this process has no master key: "
    "set AGENTOTEL_MASTER_KEY (or AGENTOTEL_MASTER_KEY_FILE) to the key it was written with"
)


class ContentKeyError(CommandError):
    """Encrypted content that cannot be decrypted (no master key, the wrong one, a damaged value), or a bad
    master key: one clear line, never a wrong value."""


class Decryptor(Protocol):
    def decrypt(self, token: str) -> Any: ...


_keyrings: WeakKeyDictionary[Dialect, Decryptor] = WeakKeyDictionary()


def attach_keyring(engine: Engine, keyring: Decryptor) -> None:
    """Reads through ``engine`` decrypt content with ``keyring`` (the keyring holds the engine weakly)."""
    _keyrings[engine.dialect] = keyring


def keyring_of(engine: Engine) -> Any:
    """The keyring attached to ``engine`` (``content_keys.Keyring``), else None: content written unencrypted."""
    return _keyrings.get(engine.dialect)


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def decrypt_for(dialect: Dialect, token: str) -> Any:
    """The clear value of ``token`` read through an engine of ``dialect``; ContentKeyError without a key."""
    keyring = _keyrings.get(dialect)
    if keyring is None:
        raise ContentKeyError(MISSING_KEY_MESSAGE)
    return keyring.decrypt(token)


def decrypt_tree(dialect: Dialect, value: Any) -> Any:
    """``value`` (a JSON document) with every encrypted string inside it decrypted; unchanged if none is."""
    if isinstance(value, str):
        return decrypt_for(dialect, value) if value.startswith(PREFIX) else value
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (str, dict, list)):
                clear = decrypt_tree(dialect, item)
                if clear is not item:
                    value[key] = clear
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (str, dict, list)):
                clear = decrypt_tree(dialect, item)
                if clear is not item:
                    value[index] = clear
        return value
    return value
