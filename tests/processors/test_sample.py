"""Tail sampling (processors/sample.py): whole error traces, decided per trace after a bounded wait."""

from __future__ import annotations

import pytest

from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.sample import Sample

# trace ids whose low 56 bits fall below / above a 10 % threshold
IN = "0" * 18 + "00000000000001"
OUT = [f"{i:02x}" + "f" * 30 for i in range(1, 6)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def span(trace_id: str, span_id: str, error: bool = False) -> SpanRecord:
    return SpanRecord(trace_id=trace_id, span_id=span_id, parent_span_id=None, name="s", kind="INTERNAL",
                      start_ns=1, end_ns=2, status_code="ERROR" if error else "UNSET", status_message=None,
                      attributes={}, resource_attributes={}, events=[], links=[])  # fmt: skip


def keys(batch: SpanBatch) -> list[tuple[str, str]]:
    return sorted((s.trace_id, s.span_id) for s in batch.spans)


def run(sampler: Sample, *spans: SpanRecord, mark=None) -> SpanBatch:
    sampler.mark = mark
    return sampler.process(SpanBatch(spans=list(spans)))


@pytest.mark.parametrize("error_at", [0, 2])
def test_an_error_span_first_or_last_keeps_the_whole_trace(error_at: int) -> None:
    sampler = Sample(0.1, decision_wait=5, clock=Clock())
    spans = [span(OUT[0], f"{i:016x}", error=i == error_at) for i in range(3)]
    out = run(sampler, *spans)
    assert keys(out) == [(OUT[0], f"{i:016x}") for i in range(3)]
    assert sampler.held_spans == 0
    assert keys(run(sampler, span(OUT[0], "late"))) == [(OUT[0], "late")]  # later spans follow the decision


def test_an_error_in_a_later_batch_releases_the_held_spans_and_the_wait_drops_the_rest() -> None:
    clock = Clock()
    sampler = Sample(0.1, decision_wait=5, clock=clock)
    first = run(sampler, span(OUT[0], "a"), span(OUT[0], "b"), span(OUT[1], "c"), span(IN, "d"), mark=(1, 0))
    assert keys(first) == [(IN, "d")]  # sampled in by its id: kept at once
    assert sampler.held_spans == 3 and sampler.oldest_mark() == (1, 0)
    clock.now += 4
    second = run(sampler, span(OUT[0], "e", error=True), mark=(1, 50))
    assert keys(second) == [(OUT[0], "a"), (OUT[0], "b"), (OUT[0], "e")]
    assert sampler.oldest_mark() == (1, 0)  # OUT[1] is still held from the first batch
    clock.now += 1
    third = run(sampler, mark=(1, 90))
    assert third.spans == [] and third.dropped == {"sampled_out": 1}
    assert sampler.held_spans == 0 and sampler.oldest_mark() is None
    assert run(sampler, span(OUT[1], "late")).dropped == {"sampled_out": 1}  # a late span follows the decision
    assert keys(run(sampler, span(OUT[1], "boom", error=True))) == [(OUT[1], "boom")]  # an error span always stays


def test_held_spans_are_bounded_and_the_oldest_traces_decided_first() -> None:
    sampler = Sample(0.0, decision_wait=60, max_held_spans=4, clock=Clock())
    for i, trace_id in enumerate(OUT[:3]):
        run(sampler, span(trace_id, "a"), span(trace_id, "b"), mark=(1, i))
    assert sampler.held_spans == 4 and sampler.decided_early == 1
    assert sampler.oldest_mark() == (1, 1)


def test_a_rewound_batch_lowers_the_mark_and_holds_no_duplicates() -> None:
    sampler = Sample(0.0, decision_wait=60, clock=Clock())
    run(sampler, span(OUT[0], "a"), mark=(2, 10))
    run(sampler, span(OUT[0], "a"), span(OUT[0], "b"), mark=(2, 0))
    assert sampler.held_spans == 2 and sampler.oldest_mark() == (2, 0)


def test_a_trace_already_stored_is_kept_when_its_wait_ends() -> None:
    clock = Clock()
    sampler = Sample(0.0, decision_wait=1, stored=lambda ids: {OUT[0]} & set(ids), clock=clock)
    run(sampler, span(OUT[0], "a"), span(OUT[1], "b"))
    clock.now += 1
    assert keys(run(sampler)) == [(OUT[0], "a")]
    assert keys(run(sampler, span(OUT[0], "c"))) == [(OUT[0], "c")]


def test_rate_one_holds_nothing_and_bad_settings_are_refused() -> None:
    batch = SpanBatch(spans=[span(OUT[0], "a")])
    assert Sample(1.0).process(batch) is batch
    with pytest.raises(ValueError, match="sample rate"):
        Sample(1.5)
    with pytest.raises(ValueError, match="must not be negative"):
        Sample(0.5, decision_wait=-1)
