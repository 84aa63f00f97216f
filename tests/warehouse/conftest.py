"""Fixtures of the warehouse tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import drop_postgres_database, new_postgres_database


@pytest.fixture
def empty_url(dialect: str, tmp_path) -> Iterator[str]:
    """A database of each dialect with no schema at all (for migration tests)."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    url = new_postgres_database(migrated=False)
    try:
        yield url
    finally:
        drop_postgres_database(url)
