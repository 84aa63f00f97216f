"""The ``receiver`` fixture: a running in-process receiver on the ``db_url`` warehouse (each dialect)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentotel.otlp_receiver.server import ReceiverServer
from tests.support.receiver import running_receiver


@pytest.fixture
def receiver(db_url: str, tmp_path) -> Iterator[ReceiverServer]:
    with running_receiver(db_url, str(tmp_path / "spool")) as server:
        yield server
