"""The dialect corpus (../shared/fixtures/genai-dialects.json, read in place) replayed through the real
receiver as OTLP/JSON, shuffled over several requests: every expected column value must be in the tables."""

from __future__ import annotations

import json
import random
import time

import httpx
import pytest
from sqlalchemy import select

from agentotel.warehouse.models import LLMCall, Span, ToolCall
from tests.otlp_receiver.support import count
from tests.shared_files import dialect_corpus
from tests.support.polling import wait_for

KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


def any_value(value) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": any_value(v)} for k, v in value.items()]}}
    return {"stringValue": str(value)}


def attributes(mapping: dict) -> list[dict]:
    return [{"key": k, "value": any_value(v)} for k, v in mapping.items()]


def corpus_requests(rng: random.Random, parts: int) -> tuple[list[bytes], list[tuple[str, str, str, dict]]]:
    """OTLP/JSON requests holding every corpus span (shuffled), and (case, ref, ids…, expect) to check."""
    cases = dialect_corpus()["cases"]
    t0 = time.time_ns() - 3600 * 10**9
    items = []  # (resource, scope, span json)
    expectations = []
    for case_no, case in enumerate(cases):
        trace_id = f"{rng.getrandbits(128):032x}"
        ids = {span["ref"]: f"{rng.getrandbits(64):016x}" for span in case["spans"]}
        resource = {"attributes": attributes(case.get("resource") or {"service.name": f"corpus-{case['dialect']}"})}
        scope = {"name": (case.get("scope") or {}).get("name") or ""}
        if (case.get("scope") or {}).get("version"):
            scope["version"] = case["scope"]["version"]
        for i, span in enumerate(case["spans"]):
            start = t0 + case_no * 10**9 + i * 10**6
            body = {
                "traceId": trace_id, "spanId": ids[span["ref"]], "name": span["name"],
                "kind": KINDS.get(span.get("kind", "INTERNAL"), 1),
                "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 500 * 10**6),
                "attributes": attributes(span.get("attributes") or {}),
                "status": {"code": STATUS.get(span.get("status", "UNSET"), 0)},
                "events": [
                    {"name": e["name"], "timeUnixNano": str(start + 1), "attributes": attributes(e.get("attributes") or {})}
                    for e in span.get("events") or []
                ],
            }  # fmt: skip
            parent = span.get("parent")
            if parent == "(absent)":
                body["parentSpanId"] = f"{rng.getrandbits(64):016x}"
            elif parent:
                body["parentSpanId"] = ids[parent]
            items.append((json.dumps(resource), json.dumps(scope), body))
            if span.get("expect"):
                expectations.append((case["id"], span["ref"], trace_id, ids[span["ref"]], span["expect"]))
    rng.shuffle(items)
    requests = []
    for part in range(parts):
        chunk = items[part::parts]
        resource_spans = [
            {"resource": json.loads(r), "scopeSpans": [{"scope": json.loads(s), "spans": [b]}]} for r, s, b in chunk
        ]
        requests.append(json.dumps({"resourceSpans": resource_spans}).encode())
    return requests, expectations


@pytest.mark.slow
def test_corpus_values_land_in_our_tables(receiver):
    requests, expectations = corpus_requests(random.Random(11), parts=5)
    total = sum(len(json.loads(r)["resourceSpans"]) for r in requests)
    for body in requests:
        response = httpx.post(
            f"http://127.0.0.1:{receiver.http_port}/v1/traces", content=body,
            headers={"Content-Type": "application/json"}, timeout=30,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        assert "partialSuccess" not in response.json(), response.text
    engine = receiver.engine
    assert wait_for(lambda: count(engine, "spans") == total, timeout=30)
    with engine.connect() as conn:
        span_types = {(r.trace_id, r.span_id): r.span_type for r in conn.execute(select(Span.trace_id, Span.span_id, Span.span_type))}
        llm_rows = {(r.trace_id, r.span_id): r._mapping for r in conn.execute(select(LLMCall))}
        tool_rows = {(r.trace_id, r.span_id): r._mapping for r in conn.execute(select(ToolCall))}
    failures = []
    for case_id, ref, trace_id, span_id, expect in expectations:
        key = (trace_id, span_id)
        where = f"{case_id}/{ref}"
        if "span_type" in expect and span_types.get(key) != expect["span_type"]:
            failures.append(f"{where}: span_type {span_types.get(key)!r} != {expect['span_type']!r}")
        for table, rows in (("llm", llm_rows), ("tool", tool_rows)):
            if table not in expect:
                continue
            wanted, row = expect[table], rows.get(key)
            if wanted is None:
                if row is not None:
                    failures.append(f"{where}: unexpected {table} row")
                continue
            if row is None:
                failures.append(f"{where}: missing {table} row")
                continue
            for column, value in wanted.items():
                got = row[column]
                same = abs(got - value) < 1e-9 if isinstance(value, float) and got is not None else got == value
                if not same:
                    failures.append(f"{where}: {table}.{column} {got!r} != {value!r}")
        for column, value in (expect.get("not") or {}).items():
            row = llm_rows.get(key)
            if row is not None and row[column] == value:
                failures.append(f"{where}: llm.{column} must not be {value!r}")
    assert not failures, "\n".join(failures)
