"""Build SpanRecords from the shared GenAI dialect corpus (read in place from ../shared, never copied); write a
minimal ``spans`` row (``insert_span``) for the writers that join onto spans."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, insert

from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.warehouse.models import Span
from tests.shared_files import dialect_corpus


def load_corpus() -> dict[str, Any]:
    """The corpus; skipped locally when absent, a failure on CI (tests/shared_files.py)."""
    return dialect_corpus()


def _hex(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


def case_records(case: dict[str, Any]) -> dict[str, SpanRecord]:
    """One SpanRecord per span of a corpus case (random ids, parent links by ``ref``), keyed by ref."""
    trace_id = _hex(16)
    span_ids = {span["ref"]: _hex(8) for span in case["spans"]}
    scope = case.get("scope") or {}
    resource = dict(case.get("resource") or {})
    start = time.time_ns()
    records: dict[str, SpanRecord] = {}
    for offset, span in enumerate(case["spans"]):
        parent = span.get("parent")
        if parent is None:
            parent_id = None
        elif parent == "(absent)":
            parent_id = _hex(8)
        else:
            parent_id = span_ids[parent]
        events = [
            {
                "name": event["name"],
                "time_unix_nano": start + offset,
                "attributes": dict(event.get("attributes") or {}),
                "dropped_attributes_count": 0,
            }
            for event in span.get("events") or []
        ]
        records[span["ref"]] = SpanRecord(
            trace_id=trace_id,
            span_id=span_ids[span["ref"]],
            parent_span_id=parent_id,
            name=span["name"],
            kind=span.get("kind") or "INTERNAL",
            start_ns=start + offset * 1000,
            end_ns=start + offset * 1000 + 1_500_000_000,
            status_code=span.get("status") or "UNSET",
            status_message=None,
            attributes=json.loads(json.dumps(span.get("attributes") or {})),
            resource_attributes=resource,
            events=events,
            links=[],
            scope_name=scope.get("name"),
            scope_version=scope.get("version"),
            service_name=resource.get("service.name"),
        )
    return records


def case_batch(case: dict[str, Any]) -> tuple[SpanBatch, dict[str, SpanRecord]]:
    records = case_records(case)
    return SpanBatch(spans=list(records.values())), records


def insert_span(
    engine: Engine,
    trace_id: str,
    span_id: str,
    execution_id: str | None = None,
    span_type: str = "llm",
    input: str | None = None,
    output: str | None = None,
    start: datetime | None = None,
) -> None:
    """A minimal ``spans`` row, written directly (unit tests of the writers that join onto spans)."""
    start = start or datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    start_ns = int(start.timestamp()) * 1_000_000_000
    with engine.begin() as conn:
        conn.execute(
            insert(Span.__table__),
            {
                "trace_id": trace_id, "span_id": span_id, "parent_span_id": None, "name": f"chat {span_id}",
                "kind": "CLIENT", "span_type": span_type, "service_name": "svc", "start_time": start,
                "end_time": start + timedelta(seconds=1), "duration_ms": 1000.0, "status_code": "UNSET",
                "execution_id": execution_id, "start_time_unix_nano": start_ns,
                "end_time_unix_nano": start_ns + 1_000_000_000, "input": input, "output": output,
            },
        )  # fmt: skip
