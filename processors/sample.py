"""Sampling by whole traces: every span of a trace with an error anywhere, and a deterministic share of the
rest by trace id.

A trace sampled in by its id (the low 56 bits against ``rate``) is kept at once, so several receivers and
replays keep the same traces. Any other trace is decided at its tail: its spans are held in memory for
``decision_wait`` seconds from its first span; an error span within that time keeps the whole trace (the held
spans join the batch at hand, later spans follow the decision), else the held spans are dropped when the wait
ends — unless the warehouse already holds spans of the trace (``stored``: kept before a restart), then they are
kept. Memory is bounded: beyond ``max_held_spans`` the oldest traces are decided early, and the decisions
remembered are bounded too. ``rate=1.0`` (the default) keeps everything and holds nothing.

Held spans are not yet in the warehouse: the caller tags each batch with where it came from (``mark``, e.g. a
spool position) and must keep everything from ``oldest_mark()`` on re-readable, so that a crash loses nothing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.warehouse.errors import classified
from agentotel.warehouse.models import Span

_SCALE = 1 << 56
DECISION_WAIT = 5.0
MAX_HELD_SPANS = 50_000
MAX_DECISIONS = 100_000
StoredTraces = Callable[[list[str]], set[str]]


@dataclass(slots=True)
class _Held:
    since: float
    mark: Any
    spans: dict[str, SpanRecord] = field(default_factory=dict)


class Sample:
    def __init__(
        self,
        rate: float = 1.0,
        decision_wait: float = DECISION_WAIT,
        max_held_spans: int = MAX_HELD_SPANS,
        stored: StoredTraces | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample rate must be within [0, 1], got {rate}")
        if decision_wait < 0 or max_held_spans < 0:
            raise ValueError("the decision wait and the held-span limit must not be negative")
        self.rate = rate
        self._threshold = int(rate * _SCALE)
        self.decision_wait = decision_wait
        self.max_held_spans = max_held_spans
        self.stored = stored
        self.clock = clock
        self.mark: Any = None  # where the spans of the next batch come from (comparable; set by the caller)
        self._held: OrderedDict[str, _Held] = OrderedDict()  # oldest first
        self._held_spans = 0
        self._errors: OrderedDict[str, None] = OrderedDict()  # traces known to hold an error
        self._dropped: OrderedDict[str, None] = OrderedDict()  # traces whose wait ended without one
        self.decided_early = 0  # traces decided before their wait ended (memory bound)

    def keeps_trace(self, trace_id: str) -> bool:
        # the low 56 bits of a W3C trace id are random (the high bits may carry a timestamp)
        return int(trace_id[-14:], 16) < self._threshold

    @property
    def held_spans(self) -> int:
        return self._held_spans

    def oldest_mark(self) -> Any:
        """The smallest ``mark`` of a batch that still has held spans (``None`` when nothing is held)."""
        marks = [held.mark for held in self._held.values() if held.mark is not None]
        return min(marks) if marks else None

    def process(self, batch: SpanBatch) -> SpanBatch:
        if self.rate >= 1.0:
            return batch
        now = self.clock()
        kept: list[SpanRecord] = []
        dropped = 0
        for span in batch.spans:
            trace_id = span.trace_id
            if trace_id in self._errors or self.keeps_trace(trace_id):
                kept.append(span)
            elif span.is_error:
                _remember(self._errors, trace_id)
                self._dropped.pop(trace_id, None)
                kept.extend(self._release(trace_id))
                kept.append(span)
            elif trace_id in self._dropped:
                dropped += 1  # a late span of a trace decided without an error
            else:
                self._hold(span, now)
        released, expired = self._decide(now)
        kept.extend(released)
        dropped += expired
        if dropped:
            batch.dropped["sampled_out"] = batch.dropped.get("sampled_out", 0) + dropped
        batch.spans = kept
        return batch

    def _hold(self, span: SpanRecord, now: float) -> None:
        held = self._held.get(span.trace_id)
        if held is None:
            held = self._held[span.trace_id] = _Held(now, self.mark)
        elif self.mark is not None and (held.mark is None or self.mark < held.mark):
            held.mark = self.mark  # re-read after a rewind: the older position must stay re-readable
        if span.span_id not in held.spans:  # keep the first copy, as the writer does
            held.spans[span.span_id] = span
            self._held_spans += 1

    def _release(self, trace_id: str) -> Iterable[SpanRecord]:
        held = self._held.pop(trace_id, None)
        if held is None:
            return ()
        self._held_spans -= len(held.spans)
        return held.spans.values()

    def _decide(self, now: float) -> tuple[list[SpanRecord], int]:
        """End the wait of the traces whose time is up (or the oldest, beyond the memory bound)."""
        due: list[str] = []
        held_after = self._held_spans
        for trace_id, held in self._held.items():
            if held.since + self.decision_wait <= now:
                due.append(trace_id)
            elif held_after > self.max_held_spans:
                due.append(trace_id)
                self.decided_early += 1
            else:
                break
            held_after -= len(held.spans)
        if not due:
            return [], 0
        keep = self.stored(due) if self.stored is not None else set()
        released: list[SpanRecord] = []
        dropped = 0
        for trace_id in due:
            spans = list(self._release(trace_id))
            if trace_id in keep:  # spans of it are stored already: it was kept (e.g. before a restart)
                _remember(self._errors, trace_id)
                released.extend(spans)
            else:
                _remember(self._dropped, trace_id)
                dropped += len(spans)
        return released, dropped


def _remember(decisions: OrderedDict[str, None], trace_id: str) -> None:
    decisions[trace_id] = None
    decisions.move_to_end(trace_id)
    if len(decisions) > MAX_DECISIONS:
        decisions.popitem(last=False)


def stored_traces(engine: Engine) -> StoredTraces:
    """The ``stored`` lookup on the warehouse: which of these traces already have spans there."""

    def lookup(trace_ids: list[str]) -> set[str]:
        found: set[str] = set()
        with classified(), engine.connect() as conn:
            for start in range(0, len(trace_ids), 500):
                chunk = trace_ids[start : start + 500]
                found.update(conn.scalars(select(Span.trace_id).where(Span.trace_id.in_(chunk)).distinct()))
        return found

    return lookup
