"""OTLP metric data points into the ``metrics`` table: every point kind, idempotent, one bulk insert.

One row per data point. ``series_key`` is a SHA-256 of (metric name, type, temporality, resource attributes,
scope, point attributes), so the unique key (metric_name, series_key, timestamp) makes a re-exported point
add no row (``INSERT … ON CONFLICT DO NOTHING``).

Columns per point kind:

========================  =========================================  ==============================
``metric_type``           ``value``                                  ``count`` / ``sum`` / ``buckets``
========================  =========================================  ==============================
gauge                     the point's value                          —
counter (monotonic sum)   the point's value                          —
updowncounter             the point's value                          —
histogram                 sum of the observations (NULL if absent)   count, sum, {bounds, counts, min, max}
exponential_histogram     sum of the observations (NULL if absent)   count, sum, {scale, zero_count, zero_threshold,
                                                                     positive{offset,counts}, negative{…}, min, max}
summary                   sum of the observations                    count, sum, {quantiles: [{quantile, value}]}
========================  =========================================  ==============================

``temporality`` is ``delta`` or ``cumulative`` as received (summaries are cumulative by definition; gauges have
none). Both are stored as received, so no query double counts as long as it respects the temporality:

- delta series: every row is the increase over [start_time, timestamp]; the total over a window is
  ``SUM(value)`` (``SUM(count)`` / ``SUM(sum)`` for histograms).
- cumulative series: every row is the running total since ``start_time``. The increase over a window is the sum,
  per ``series_key`` and ordered by ``timestamp``, of the differences between consecutive points; when
  ``start_time`` changes (the producer restarted) the series was reset, and that point's own value is the
  increase (``CASE WHEN start_time = LAG(start_time) OVER w THEN value - LAG(value) OVER w ELSE value END``).
  Never ``SUM`` cumulative rows.

A point links to a span through an exemplar's trace/span id, else through ``trace_id``/``span_id`` point
attributes. ``execution_id`` is copied from ``spans`` when the span is already stored; for spans that arrive
later, :func:`link_pending_metrics` (run in the span writer's transaction) fills it in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from sqlalchemy import Connection, Engine, bindparam, select, update

from agentotel.core import semconv as sc
from agentotel.core.projects import DEFAULT_PROJECT, PROJECT_ATTRIBUTE
from agentotel.processors.decode import any_value, clean_text
from agentotel.warehouse.bulk import ns_to_datetime
from agentotel.warehouse.engine import write_transaction
from agentotel.warehouse.errors import classified
from agentotel.warehouse.locks import lock_traces
from agentotel.warehouse.models import Metric, Span, span_keys_in
from agentotel.warehouse.row_security import write_as
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

METRICS = Metric.__table__
SPANS = Span.__table__
KEY_COLUMNS = ("metric_name", "series_key", "timestamp")
ID_CHUNK = 400
MAX_NAME = 255  # metrics.metric_name
MAX_UNIT = 64

TEMPORALITY = {
    metrics_pb2.AGGREGATION_TEMPORALITY_DELTA: "delta",
    metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}
FLAG_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
# resource attributes copied into ``tags`` (the rest stays in the series key only)
IDENTITY_KEYS = (
    "service.name",
    "service.namespace",
    "service.version",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    sc.AGENT_NAME,
    sc.AGENT_ID,
    sc.AGENT_VERSION,
    "agent.name",
)
TRACE_ID_KEYS = ("trace_id", "trace.id", "otel.trace_id", "gen_ai.trace_id")
SPAN_ID_KEYS = ("span_id", "span.id", "otel.span_id", "gen_ai.span_id")


# -- values ----------------------------------------------------------------------------------------
def attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    """OTLP ``KeyValue`` list → dict (the last value of a repeated key wins; values as the span decoder)."""
    return {clean_text(kv.key): any_value(kv.value) for kv in key_values}


def short_text(value: Any, limit: int = 255) -> str | None:
    """A string column value cut to its column size (service names, scope names …)."""
    return value[:limit] if isinstance(value, str) and value else None


def finite(number: float | None) -> float | None:
    """NaN → None (neither JSON nor SQLite keeps it); infinities pass for float columns."""
    if number is None or math.isnan(number):
        return None
    return number


def _json_number(number: float | None) -> float | None:
    return number if number is not None and math.isfinite(number) else None


def series_key(name: str, kind: str, temporality: str | None, resource: dict, scope: tuple, point: dict) -> str:
    """Stable identity of a series: the same inputs give the same 64-hex key in every process."""
    payload = json.dumps(
        [name, kind, temporality, resource, list(scope), point], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _hex_id(raw: bytes | str | None, length: int) -> str | None:
    if not raw:
        return None
    text = raw.hex() if isinstance(raw, bytes) else str(raw).strip().lower()
    if len(text) != length or set(text) - set("0123456789abcdef") or set(text) == {"0"}:
        return None
    return text


def _trace_link(point: Any, point_attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    for exemplar in getattr(point, "exemplars", ()):
        trace_id = _hex_id(exemplar.trace_id, 32)
        if trace_id:
            return trace_id, _hex_id(exemplar.span_id, 16)
    trace_id = next((_hex_id(point_attrs[k], 32) for k in TRACE_ID_KEYS if k in point_attrs), None)
    if not trace_id:
        return None, None
    return trace_id, next((_hex_id(point_attrs[k], 16) for k in SPAN_ID_KEYS if k in point_attrs), None)


def _exemplars(point: Any) -> list[dict[str, Any]]:
    out = []
    for ex in getattr(point, "exemplars", ()):
        which = ex.WhichOneof("value")
        out.append(
            {
                "value": _json_number(float(getattr(ex, which))) if which else None,
                "time_unix_nano": ex.time_unix_nano,
                "trace_id": _hex_id(ex.trace_id, 32),
                "span_id": _hex_id(ex.span_id, 16),
                "attributes": attributes(ex.filtered_attributes),
            }
        )
    return out


def _min_max(point: Any) -> dict[str, float | None]:
    return {
        "min": _json_number(point.min) if point.HasField("min") else None,
        "max": _json_number(point.max) if point.HasField("max") else None,
    }


# -- one row per point -----------------------------------------------------------------------------
def _points(metric: Any) -> tuple[str, str | None, Sequence[Any]]:
    """(metric_type, temporality, points) of one OTLP ``Metric``."""
    which = metric.WhichOneof("data")
    if which == "gauge":
        return "gauge", None, metric.gauge.data_points
    if which == "sum":
        kind = "counter" if metric.sum.is_monotonic else "updowncounter"
        return kind, TEMPORALITY.get(metric.sum.aggregation_temporality), metric.sum.data_points
    if which == "histogram":
        return "histogram", TEMPORALITY.get(metric.histogram.aggregation_temporality), metric.histogram.data_points
    if which == "exponential_histogram":
        data = metric.exponential_histogram
        return "exponential_histogram", TEMPORALITY.get(data.aggregation_temporality), data.data_points
    if which == "summary":
        return "summary", "cumulative", metric.summary.data_points
    return "unknown", None, ()


def _measure(kind: str, point: Any) -> dict[str, Any]:
    """value / count / sum / buckets of one point."""
    no_value = bool(point.flags & FLAG_NO_RECORDED_VALUE)
    if kind in ("gauge", "counter", "updowncounter"):
        which = point.WhichOneof("value")
        value = None if no_value or which is None else finite(float(getattr(point, which)))
        return {"value": value, "count": None, "sum": None, "buckets": None}
    if kind == "summary":
        quantiles = [{"quantile": q.quantile, "value": _json_number(q.value)} for q in point.quantile_values]
        total = None if no_value else finite(point.sum)
        return {"value": total, "count": point.count, "sum": total, "buckets": {"quantiles": quantiles}}
    total = finite(point.sum) if point.HasField("sum") and not no_value else None
    buckets: dict[str, Any]
    if kind == "histogram":
        buckets = {"bounds": list(point.explicit_bounds), "counts": list(point.bucket_counts), **_min_max(point)}
    else:  # exponential_histogram
        buckets = {
            "scale": point.scale,
            "zero_count": point.zero_count,
            "zero_threshold": _json_number(point.zero_threshold),
            "positive": {"offset": point.positive.offset, "counts": list(point.positive.bucket_counts)},
            "negative": {"offset": point.negative.offset, "counts": list(point.negative.bucket_counts)},
            **_min_max(point),
        }
    return {"value": total, "count": point.count, "sum": total, "buckets": buckets}


def metric_rows(request: ExportMetricsServiceRequest) -> tuple[list[dict[str, Any]], int]:
    """Plain ``metrics`` row dicts for every data point, and the number of points rejected.

    Rejected: points without a timestamp, and points of metrics with an empty name or one longer than
    the column (255 characters).
    """
    rows: list[dict[str, Any]] = []
    rejected = 0
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        service = short_text(resource.get("service.name"))
        identity = {k: resource[k] for k in IDENTITY_KEYS if k in resource}
        project = resource.get(PROJECT_ATTRIBUTE)  # the receiver's stamp (otlp_receiver.tenancy)
        in_project = {"project_id": project} if isinstance(project, str) and project != DEFAULT_PROJECT else {}
        for scope_metrics in resource_metrics.scope_metrics:
            scope = (clean_text(scope_metrics.scope.name) or None, clean_text(scope_metrics.scope.version) or None)
            for metric in scope_metrics.metrics:
                kind, temporality, points = _points(metric)
                name = clean_text(metric.name)
                unit = clean_text(metric.unit)[:MAX_UNIT] or None
                if not name or len(name) > MAX_NAME:
                    rejected += len(points)
                    continue
                for point in points:
                    if not point.time_unix_nano:
                        rejected += 1
                        continue
                    point_attrs = attributes(point.attributes)
                    trace_id, span_id = _trace_link(point, point_attrs)
                    measure = _measure(kind, point)
                    exemplars = _exemplars(point)
                    if exemplars:
                        measure["buckets"] = {**(measure["buckets"] or {}), "exemplars": exemplars}
                    rows.append(
                        {
                            "metric_name": name,
                            "series_key": series_key(name, kind, temporality, resource, scope, point_attrs),
                            "timestamp": ns_to_datetime(point.time_unix_nano),
                            "start_time": ns_to_datetime(point.start_time_unix_nano) if point.start_time_unix_nano else None,
                            "tags": {**identity, **point_attrs},
                            "metric_type": kind,
                            "unit": unit,
                            "temporality": temporality,
                            "service_name": service,
                            "trace_id": trace_id,
                            "span_id": span_id,
                            "execution_id": None,
                            **measure,
                            **in_project,
                        }
                    )
    return rows, rejected


# -- writes ----------------------------------------------------------------------------------------


def _chunks(items: list, size: int = ID_CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _execution_ids(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for chunk in _chunks(sorted(keys)):
        query = select(SPANS.c.trace_id, SPANS.c.span_id, SPANS.c.execution_id).where(
            span_keys_in(chunk), SPANS.c.execution_id.is_not(None)
        )
        found.update({(r.trace_id, r.span_id): r.execution_id for r in conn.execute(query)})
    return found


def write_metrics(engine: Engine, request: ExportMetricsServiceRequest) -> int:
    """Store every data point of ``request``; returns the number of points accepted.

    Accepted = stored now or already present (a re-exported point is accepted and adds no row); points
    without a timestamp are rejected (logged) and do not stop the others.
    """
    rows, rejected = metric_rows(request)
    if rejected:
        logger.warning("rejected %d metric data points (no time_unix_nano, or an empty or over-long name)", rejected)
    if not rows:
        return 0
    with classified(), write_transaction(engine) as conn:
        write_as(conn, {row.get("project_id", DEFAULT_PROJECT) for row in rows})  # PostgreSQL: the key's project
        linked = {(r["trace_id"], r["span_id"]) for r in rows if r["trace_id"] and r["span_id"]}
        if linked:
            lock_traces(conn, (trace_id for trace_id, _ in linked))
            executions = _execution_ids(conn, linked)
            for row in rows:
                row["execution_id"] = executions.get((row["trace_id"], row["span_id"]))
        # A JSON column bound to None stores JSON 'null'; rows without buckets leave the key out (SQL NULL).
        plain = [{k: v for k, v in row.items() if k != "buckets"} for row in rows if row["buckets"] is None]
        insert_on_conflict(conn, METRICS, [row for row in rows if row["buckets"] is not None], KEY_COLUMNS)
        insert_on_conflict(conn, METRICS, plain, KEY_COLUMNS)
    return len(rows)


def link_pending_metrics(conn: Connection, span_keys: list[tuple[str, str]]) -> None:
    """Copy ``spans.execution_id`` onto metric points of the traces of ``span_keys``.

    Meant as a span-writer ``after_insert`` hook: it runs in the writer's transaction, after new spans
    were stored and execution ids (re)assigned, and covers points that arrived before their span.
    """
    trace_ids = sorted({trace_id for trace_id, _ in span_keys})
    lock_traces(conn, trace_ids)
    for chunk in _chunks(trace_ids):
        execution = (
            select(SPANS.c.execution_id)
            .where(SPANS.c.trace_id == METRICS.c.trace_id, SPANS.c.span_id == METRICS.c.span_id)
            .scalar_subquery()
        )
        conn.execute(
            update(METRICS)
            .where(
                METRICS.c.trace_id.in_(bindparam("ids", expanding=True)),
                METRICS.c.span_id.is_not(None),
                METRICS.c.execution_id.is_distinct_from(execution),
            )
            .values(execution_id=execution),
            {"ids": chunk},
        )
