"""Whole error traces under sampling, through the real receiver (OTLP/HTTP → spool → drain → warehouse):
a trace with an error span anywhere is kept whole whether the error arrives first, last or in a later batch;
held spans stay in the spool (behind its checkpoint) until decided, so a kill -9 loses none of them."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from sqlalchemy import text

from agentotel.processors.sample import Sample
from agentotel.warehouse.engine import create_db_engine
from tests.support.polling import wait_for
from tests.support.receiver import ReceiverProcess, start_receiver

T0 = 1_760_000_000_000_000_000
RATE = 0.1
SAMPLER = Sample(RATE)


def trace_id(n: int, sampled_in: bool) -> bytes:
    """A trace id the rate keeps by id (``sampled_in``) or leaves to the tail decision."""
    low = 0x10 + n if sampled_in else (1 << 56) - 1 - n
    tid = (0xABC0 + n).to_bytes(9, "big") + low.to_bytes(7, "big")
    assert SAMPLER.keeps_trace(tid.hex()) is sampled_in
    return tid


def span_id(trace: bytes, i: int) -> bytes:
    return trace[-4:] + (i + 1).to_bytes(4, "big")


def request(*spans: tuple[bytes, int, bool]) -> bytes:
    """One OTLP traces request of (trace id, span number, error) spans; span 0 is the root, others its children."""
    body = ExportTraceServiceRequest()
    scope = body.resource_spans.add().scope_spans.add()
    for trace, i, error in spans:
        span = scope.spans.add(trace_id=trace, span_id=span_id(trace, i), name=f"step {i}",
                               start_time_unix_nano=T0 + i * 1000, end_time_unix_nano=T0 + i * 1000 + 500)  # fmt: skip
        if i:
            span.parent_span_id = span_id(trace, 0)
        if error:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = "failed"
    return body.SerializeToString()


def post(server, body: bytes) -> None:
    response = httpx.post(f"http://127.0.0.1:{server.http_port}/v1/traces", content=body,
                          headers={"Content-Type": "application/x-protobuf"}, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text


def stored(engine, trace: bytes) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT span_id FROM spans WHERE trace_id = :t ORDER BY span_id"), {"t": trace.hex()})
        return [row[0] for row in rows]


def ids(trace: bytes, n: int) -> list[str]:
    return sorted(span_id(trace, i).hex() for i in range(n))


@pytest.mark.slow
def test_error_traces_are_kept_whole_wherever_the_error_arrives(db_url, tmp_path):
    first, last, later, clean, by_id = (trace_id(n, sampled_in=n == 4) for n in range(5))
    server = start_receiver(db_url, str(tmp_path / "spool"), sample_rate=RATE, sample_decision_wait=2.0)
    try:
        sampler = server.drain.sampler
        # batch 1: `first` opens with its error span, `last` and `later` send healthy spans, `clean` has none
        post(server, request((first, 2, True), (first, 0, False), (last, 1, False), (last, 2, False),
                             (later, 0, False), (later, 1, False), (clean, 0, False), (clean, 1, False),
                             (by_id, 0, False), (by_id, 1, False)))  # fmt: skip
        assert wait_for(lambda: sampler.held_spans == 6)  # last ×2, later ×2, clean ×2
        assert wait_for(lambda: stored(server.engine, first) == sorted(span_id(first, i).hex() for i in (0, 2)))
        # batch 2: `first`'s remaining span, `last`'s error root closes it; `later` waits on
        post(server, request((first, 1, False), (last, 0, True)))
        assert wait_for(lambda: stored(server.engine, last) == ids(last, 3))
        assert server.spool.pending_bytes() > 0  # the checkpoint stays behind the held spans of batch 1
        # batch 3: the error of `later` in a batch of its own
        post(server, request((later, 2, True)))
        assert wait_for(lambda: stored(server.engine, later) == ids(later, 3))
        assert stored(server.engine, first) == ids(first, 3)
        assert stored(server.engine, by_id) == ids(by_id, 2)  # sampled in by its id: kept whole, no wait
        # the wait of `clean` ends without an error: dropped, and the checkpoint reaches the end of the spool
        assert wait_for(lambda: sampler.held_spans == 0 and server.spool.pending_bytes() == 0, timeout=10)
        assert stored(server.engine, clean) == []
        post(server, request((clean, 2, False)))  # a late span follows the decision
        assert wait_for(lambda: server.spool.pending_bytes() == 0)
        assert stored(server.engine, clean) == []
    finally:
        server.stop()


@pytest.mark.slow
def test_held_spans_survive_a_kill_and_their_trace_is_kept_whole(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTOTEL_SAMPLE_RATE", str(RATE))
    monkeypatch.setenv("AGENTOTEL_SAMPLE_DECISION_WAIT", "60")  # nothing is decided by time in this test
    trace, marker = trace_id(7, sampled_in=False), trace_id(8, sampled_in=True)
    spool, log = tmp_path / "spool", tmp_path / "receiver.log"
    engine = create_db_engine(db_url)
    try:
        with ReceiverProcess(db_url, spool, log) as before:
            # acknowledged (fsynced in the spool); `marker`, kept by its id, shows the drain has read the request
            post(before, request((trace, 0, False), (trace, 1, False), (marker, 0, False)))
            assert wait_for(lambda: stored(engine, marker) == ids(marker, 1), timeout=20), before.log_tail()
            checkpoint = spool / "checkpoint"  # not advanced past the request whose spans are held
            assert not checkpoint.exists() or checkpoint.read_text().split()[1] == "0"
            assert stored(engine, trace) == []
            before.kill()
        with ReceiverProcess(db_url, spool, log) as after:
            post(after, request((trace, 2, True)))  # the error arrives after the restart
            assert wait_for(lambda: stored(engine, trace) == ids(trace, 3), timeout=20), after.log_tail()
    finally:
        engine.dispose()
