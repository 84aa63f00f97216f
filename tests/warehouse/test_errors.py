"""Warehouse write failures are classified once (``warehouse.errors``): a database that cannot be reached
is retryable, rows the database refuses are not, and other errors pass unchanged; on real databases."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert

from agentotel.processors.metrics import write_metrics
from agentotel.warehouse.engine import create_db_engine, write_transaction
from agentotel.warehouse.errors import StorageRejected, StorageUnavailable, classified
from agentotel.warehouse.models import Agent
from tests.conftest import free_port


def test_a_refused_row_is_permanent(engine):
    row = {"name": "a", "version": "1", "source": "telemetry"}
    with write_transaction(engine) as conn:
        conn.execute(insert(Agent), [row])
    with pytest.raises(StorageRejected) as caught, classified(), write_transaction(engine) as conn:
        conn.execute(insert(Agent), [row])  # unique (name, version)
    assert not caught.value.retryable and isinstance(caught.value.__cause__, sa_exc.IntegrityError)
    assert "IntegrityError" in str(caught.value)


def test_other_errors_pass_unchanged(engine):
    with pytest.raises(KeyError), classified(), write_transaction(engine):
        raise KeyError("a bug, not the database")


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_database_that_cannot_be_reached_is_retryable(dialect, tmp_path):
    url = (f"sqlite:///{tmp_path}/no/such/dir/warehouse.db" if dialect == "sqlite"
           else f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2")  # fmt: skip
    engine = create_db_engine(url)
    try:
        with pytest.raises(StorageUnavailable) as caught:
            write_metrics(engine, _one_point())  # an ingest writer: its transaction is classified
        assert caught.value.retryable and isinstance(caught.value.__cause__, sa_exc.OperationalError)
    finally:
        engine.dispose()


def _one_point() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="agent.requests")
    metric.gauge.data_points.add(time_unix_nano=1_760_000_000_000_000_000, as_double=1.0)
    return request
