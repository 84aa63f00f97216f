"""RELIABILITY.md B12 (short form): mutated OTLP requests through decode → validate → normalize → write
raise nothing but InvalidArgument. ``benchmarks/fuzz_receiver.py`` runs the 10^5-request version."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentotel.core.settings import ReceiverSettings
from agentotel.otlp_receiver.errors import InvalidArgument
from agentotel.otlp_receiver.ingest import build_request_writer, ingest_traces
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.migrate import upgrade
from tests.otlp_receiver.support import genai_spans

_SEED: bytes | None = None


def seed_request() -> bytes:
    global _SEED
    if _SEED is None:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        _SEED = encode_spans(genai_spans(2)).SerializeToString()
    return _SEED


mutations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=255)), min_size=1, max_size=8
)


def test_mutated_requests_never_crash_the_pipeline(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path}/fuzz.db")
    upgrade(engine)
    writer = build_request_writer(engine, ReceiverSettings())
    outcomes = {"ok": 0, "invalid": 0}

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutations, st.booleans())
    def run(changes, truncate):
        body = bytearray(seed_request())
        for position, value in changes:
            body[position % len(body)] = value
        if truncate:
            body = body[: len(body) // 2]
        try:
            ingest_traces(writer, bytes(body))
            outcomes["ok"] += 1
        except InvalidArgument:
            outcomes["invalid"] += 1

    run()
    assert outcomes["ok"] > 0 and outcomes["invalid"] > 0, outcomes
