"""Per-item validation before an Export is accepted: bad spans are rejected one by one
(``partial_success``), the good ones are kept (RELIABILITY.md B9). ``agentotel import`` applies the same
rules to the spans it reads from files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from google.protobuf.message import Message

MIN_TIME_NS = 946_684_800 * 10**9  # 2000-01-01
FUTURE_SLACK_NS = 7 * 24 * 3600 * 10**9
ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)


@dataclass(frozen=True)
class RejectedSpan:
    """One span removed by validation, and why."""

    reason: str
    name: str
    trace_id: str  # hex, as received (may be of the wrong length)
    span_id: str


@dataclass
class Validation:
    """What validation removed from a request: counts per reason (``partial_success``) and each span."""

    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    changed: bool = False
    spans: list[RejectedSpan] = field(default_factory=list)

    def reject(self, reason: str, span: Message | None = None) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if span is not None:
            self.spans.append(RejectedSpan(reason, span.name, span.trace_id.hex(), span.span_id.hex()))

    def message(self) -> str:
        parts = [f"{count} {reason}" for reason, count in sorted(self.reasons.items())]
        parts.extend(self.warnings)
        return "; ".join(parts)


def span_problem(span: Message, max_time_ns: int) -> str | None:
    """Why ``span`` (an OTLP protobuf ``Span``) cannot be accepted, or None."""
    if len(span.trace_id) != 16 or span.trace_id == ZERO_TRACE:
        return "span(s) with an invalid trace_id (must be 16 non-zero bytes)"
    if len(span.span_id) != 8 or span.span_id == ZERO_SPAN:
        return "span(s) with an invalid span_id (must be 8 non-zero bytes)"
    parent = span.parent_span_id
    if parent and (len(parent) != 8 or parent == ZERO_SPAN):
        return "span(s) with an invalid parent_span_id"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start < MIN_TIME_NS or end < MIN_TIME_NS or start > max_time_ns or end > max_time_ns:
        return "span(s) with a timestamp outside 2000-01-01 .. now+7d"
    if end < start:
        return "span(s) ending before they start"
    return None


def validate_traces(request: Message, max_attributes: int) -> Validation:
    """Remove invalid spans from ``request`` in place and say why."""
    result = Validation()
    max_time = time.time_ns() + FUTURE_SLACK_NS
    over_cap = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            bad: list[int] = []
            for index, span in enumerate(spans):
                problem = span_problem(span, max_time)
                if problem is not None:
                    result.reject(problem, span)
                    bad.append(index)
                elif len(span.attributes) > max_attributes:
                    over_cap += 1
            for index in reversed(bad):
                del spans[index]
            if bad:
                result.changed = True
    if over_cap:
        result.warnings.append(
            f"{over_cap} span(s) carry more than {max_attributes} attributes: the rest were dropped "
            "(dropped_attributes_count updated)"
        )
    return result


def count_items(signal_name: str, request: Message) -> int:
    """Spans, metric data points or log records in a request."""
    if signal_name == "traces":
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if signal_name == "logs":
        return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total
