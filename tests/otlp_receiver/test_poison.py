"""Values a database refuses never block the drain: odd values are made storable, and what the
warehouse still refuses is quarantined while everything else in the batch is written."""

from __future__ import annotations

import os

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from agentotel.otlp_receiver.drain import Drain
from agentotel.otlp_receiver.ingest import RequestWriter
from agentotel.otlp_receiver.spool import Spool
from agentotel.processors.base import Pipeline
from agentotel.processors.decode import DecodeLimits
from agentotel.processors.normalize import Normalize
from agentotel.processors.records import SpanBatch
from agentotel.processors.writer import WarehouseWriter
from tests.otlp_receiver.support import count, scalar
from tests.otlp_receiver.test_bad_input import http_post, span_request
from tests.support.polling import wait_for
from tests.support.receiver import start_receiver


@pytest.mark.slow
def test_oversized_and_odd_values_are_stored(db_url, tmp_path):
    server = start_receiver(db_url, str(tmp_path / "spool"))
    try:
        request = span_request(1, name="invoke_agent x")
        span = request.resource_spans[0].scope_spans[0].spans[0]
        for key, value in {
            "gen_ai.operation.name": AnyValue(string_value="invoke_agent"),
            "gen_ai.agent.name": AnyValue(string_value="agent\x00" + "n" * 400),
            "gen_ai.agent.version": AnyValue(string_value="v" * 300),
        }.items():
            span.attributes.add(key=key, value=value)
        llm = span_request(1, name="chat m").resource_spans[0].scope_spans[0].spans[0]
        llm.trace_id, llm.parent_span_id = span.trace_id, span.span_id
        for key, value in {
            "gen_ai.operation.name": AnyValue(string_value="chat"),
            "gen_ai.request.model": AnyValue(string_value="m" * 1000),
            "gen_ai.usage.input_tokens": AnyValue(int_value=2**40),
            "gen_ai.usage.output_tokens": AnyValue(int_value=7),
        }.items():
            llm.attributes.add(key=key, value=value)
        request.resource_spans[0].scope_spans[0].spans.append(llm)
        assert http_post(server, request.SerializeToString()).status_code == 200
        assert wait_for(lambda: count(server.engine, "llm_calls") == 1 and count(server.engine, "agent_executions") == 1)
        assert len(scalar(server.engine, "select request_model from llm_calls")) == 255
        assert scalar(server.engine, "select input_tokens from llm_calls") is None
        assert scalar(server.engine, "select output_tokens from llm_calls") == 7
        assert scalar(server.engine, "select agent_name from agent_executions").startswith("agent\\u0000nnn")
        assert server.drain.quarantined == 0
    finally:
        server.stop()


class RefuseSpansNamed:
    """Fault injection: a processing step that fails permanently on one span (like a value the
    warehouse refuses would)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def process(self, batch: SpanBatch) -> SpanBatch:
        if any(span.name == self.name for span in batch.spans):
            raise ValueError(f"refusing {self.name}")
        return batch


def test_permanently_failing_span_is_quarantined_and_the_rest_written(engine, tmp_path):
    spool = Spool(tmp_path / "spool")
    pipeline = Pipeline([Normalize(), RefuseSpansNamed("poison")], WarehouseWriter(engine))
    drain = Drain(spool, RequestWriter(engine, pipeline, DecodeLimits()))
    good = span_request(5)
    bad = span_request(3)
    bad.resource_spans[0].scope_spans[0].spans[1].name = "poison"
    spool.append(1, good.SerializeToString())
    spool.append(1, bad.SerializeToString())
    assert drain.drain_once(wait=1.0) == 2
    assert count(engine, "spans") == 7  # 5 + the 2 good spans of the bad request
    assert drain.quarantined == 1
    quarantined = list((tmp_path / "spool" / "quarantine").glob("*.txt"))
    assert len(quarantined) == 1 and "refusing poison" in quarantined[0].read_text()
    assert spool.pending_bytes() == 0  # the drain moved on
    spool.close()
    assert os.path.exists(tmp_path / "spool" / "checkpoint")
