"""Sampling: keep every span of an error, and a deterministic share of the rest by trace id.

The decision is a function of the trace id alone, so several receivers (and replays) keep the same
traces. ``rate=1.0`` (the default) keeps everything.
"""

from __future__ import annotations

from agentotel.processors.records import SpanBatch

_SCALE = 1 << 56


class Sample:
    def __init__(self, rate: float = 1.0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample rate must be within [0, 1], got {rate}")
        self.rate = rate
        self._threshold = int(rate * _SCALE)

    def keeps_trace(self, trace_id: str) -> bool:
        # the low 56 bits of a W3C trace id are random (the high bits may carry a timestamp)
        return int(trace_id[-14:], 16) < self._threshold

    def process(self, batch: SpanBatch) -> SpanBatch:
        if self.rate >= 1.0:
            return batch
        kept = [s for s in batch.spans if s.is_error or self.keeps_trace(s.trace_id)]
        dropped = len(batch.spans) - len(kept)
        if dropped:
            batch.dropped["sampled_out"] = batch.dropped.get("sampled_out", 0) + dropped
        batch.spans = kept
        return batch
