"""Column types shared by the models and the migrations: UTC timestamps, JSON (JSONB on PostgreSQL), and the
captured-content columns that read encrypted values back in clear (``content_cipher``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Text, case, func, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from agentotel.warehouse.content_cipher import PREFIX, decrypt_for, decrypt_tree

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC; naive values are taken as UTC, values read back are aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        else:
            value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class ContentText(TypeDecorator[str]):
    """Captured content as text (``spans.input``/``output`` …): an encrypted value reads back in clear with the
    engine's keyring (``content_cipher``); written as given (the pipeline encrypts before the writer)."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt_for(dialect, value)
        return value


class ContentJSON(TypeDecorator[Any]):
    """A JSON column (JSONB on PostgreSQL) whose values may hold encrypted content (span attributes, events):
    every encrypted string inside reads back in clear."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else decrypt_tree(dialect, value)


def content_head(column: Any, chars: int) -> Any:
    """The first ``chars`` characters of a content column, for previews: ``substr`` would cut an encrypted value
    (which then cannot be opened), so an encrypted one is read whole and decrypted (typed ``ContentText``)."""
    head = case((column.startswith(PREFIX, autoescape=True), column), else_=func.substr(column, 1, chars))
    return type_coerce(head, ContentText())
