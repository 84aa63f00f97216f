"""OTLP log records into the ``logs`` table; GenAI content events onto their spans, in any arrival order.

Every record (GenAI event or not) is stored in ``logs`` once: its ``id`` is a hash of its content, so a
re-sent record adds no row. Bodies and content attributes pass through PII redaction
(``agentotel.processors.redact.redact_text``) before storage.

GenAI content events (semconv.md 1.4) name their span by ``trace_id``/``span_id``. The content of a span
is recomputed from *all* stored content events of that span, in their exact order (``time_unix_nano``,
then position in the export request), and written to ``spans.input`` / ``spans.output`` as JSON text of
OTel GenAI messages (``[{"role", "parts": [...]}, …]``; system instructions lead the input as a
``system`` message; output messages carry ``finish_reason``). This happens when the events arrive (if the
span is stored) and when the span arrives (:func:`attach_pending_content`, run in the span writer's
transaction), so the result does not depend on which came first. Events only fill what they carry: a span
whose events hold only the output keeps the input it got from its own attributes.

Precedence per span: ``gen_ai.client.inference.operation.details`` (last one) > per-message events
(``gen_ai.{system,user,assistant,tool}.message``, ``gen_ai.choice``) > ``gen_ai.content.prompt`` /
``gen_ai.content.completion``. ``gen_ai.evaluation.result`` events stay in ``logs`` (linked to the span).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from sqlalchemy import Connection, Engine, bindparam, func, select, update

from agentotel.core import semconv as sc
from agentotel.core.projects import DEFAULT_PROJECT, PROJECT_ATTRIBUTE
from agentotel.processors.decode import any_value, clean_text
from agentotel.processors.metrics import (
    attributes,
    ns_to_datetime,
    short_text,
)
from agentotel.processors.normalize.otel import (
    CHOICE_EVENT,
    COMPLETION_EVENT,
    DEPRECATED_COMPLETION,
    DEPRECATED_PROMPT,
    DETAILS_EVENT,
    MESSAGE_EVENTS,
    PROMPT_EVENT,
)
from agentotel.processors.normalize.otel import CONTENT_ATTRIBUTES as GENAI_CONTENT_ATTRIBUTES
from agentotel.processors.redact import EXCEPTION_TEXT_KEYS, redact_text
from agentotel.warehouse.content_cipher import is_encrypted, keyring_of
from agentotel.warehouse.engine import write_transaction
from agentotel.warehouse.errors import classified
from agentotel.warehouse.locks import lock_traces
from agentotel.warehouse.models import LogRecord, Span
from agentotel.warehouse.row_security import write_as
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

LOGS = LogRecord.__table__
SPANS = Span.__table__
ID_CHUNK = 400

CONTENT_EVENTS = frozenset({DETAILS_EVENT, CHOICE_EVENT, PROMPT_EVENT, COMPLETION_EVENT, *MESSAGE_EVENTS})
# attributes that carry content or free text: redacted before storage
CONTENT_ATTRIBUTES = GENAI_CONTENT_ATTRIBUTES | EXCEPTION_TEXT_KEYS


# -- redaction -------------------------------------------------------------------------------------
def redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """``redact`` applied to every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(item, redact) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item, redact) for key, item in value.items()}
    return value


# -- decoding --------------------------------------------------------------------------------------
def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw and any(raw) else None


def _body_text(body: Any) -> str | None:
    if body is None:
        return None
    return body if isinstance(body, str) else json.dumps(body, sort_keys=True, ensure_ascii=False)


def _parse_json(value: Any) -> Any:
    """JSON text → value (content attributes may be JSON strings or structured AnyValues)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def log_rows(request: ExportLogsServiceRequest, redact: Callable[[str], str]) -> list[dict[str, Any]]:
    """Plain ``logs`` rows (redacted) for every record of ``request``."""
    rows: list[dict[str, Any]] = []
    received = datetime.now(timezone.utc)
    seq = 0
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        service = short_text(resource.get("service.name"))
        project = resource.get(PROJECT_ATTRIBUTE)  # the receiver's stamp (otlp_receiver.tenancy)
        project = project if isinstance(project, str) and project else DEFAULT_PROJECT
        for scope_logs in resource_logs.scope_logs:
            scope_name = short_text(clean_text(scope_logs.scope.name))
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                event_name = short_text(clean_text(record.event_name) or attrs.get("event.name"))
                for key in CONTENT_ATTRIBUTES.intersection(attrs):
                    attrs[key] = redact_value(attrs[key], redact)
                body = redact_value(any_value(record.body), redact) if record.HasField("body") else None
                trace_id, span_id = _hex(record.trace_id), _hex(record.span_id)
                when_ns = record.time_unix_nano or record.observed_time_unix_nano
                row = {
                    "timestamp": ns_to_datetime(when_ns) if when_ns else received,
                    "observed_timestamp": (
                        ns_to_datetime(record.observed_time_unix_nano) if record.observed_time_unix_nano else None
                    ),
                    "time_unix_nano": when_ns or None,
                    "seq": seq,
                    "severity_number": record.severity_number or None,
                    "severity_text": short_text(clean_text(record.severity_text), 32),
                    "body": _body_text(body),
                    "attributes": attrs,
                    "resource_attributes": resource,
                    "event_name": event_name,
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "service_name": service,
                    "scope_name": scope_name,
                    "project_id": project,
                }
                row["id"] = _record_id(row, record.time_unix_nano, record.flags)
                rows.append(row)
                seq += 1
    return rows


def _record_id(row: dict[str, Any], time_unix_nano: int, flags: int) -> str:
    identity = [
        row["resource_attributes"], row["scope_name"], time_unix_nano, row["severity_number"], row["severity_text"],
        row["body"], row["attributes"], row["event_name"], row["trace_id"], row["span_id"], flags,
    ]  # fmt: skip
    payload = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# -- content ---------------------------------------------------------------------------------------
def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, list):  # OpenAI-style content parts
        parts = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text" and "text" in item:
                parts.append({"type": "text", "content": item["text"]})
            elif isinstance(item, dict) and "type" in item:
                parts.append(item)
            else:
                parts.append({"type": "text", "content": item if isinstance(item, str) else json.dumps(item)})
        return parts
    return [{"type": "text", "content": content if isinstance(content, str) else json.dumps(content)}]


def _legacy_message(role: str, body: Any) -> dict[str, Any]:
    """A 1.28–1.36 per-message event body → an OTel GenAI message."""
    if not isinstance(body, dict):
        body = {"content": body}
    role = body.get("role") or role
    if role == "tool":
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": body.get("id"), "response": body.get("content")}]}
    parts = _parts(body.get("content"))
    calls = _parse_json(body.get("tool_calls"))
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") or {} if isinstance(call, dict) else {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id") if isinstance(call, dict) else None,
                "name": function.get("name"),
                "arguments": _parse_json(function.get("arguments")),
            }
        )
    return {"role": role, "parts": parts}


def _as_messages(value: Any, default_role: str) -> list[dict[str, Any]]:
    """``gen_ai.prompt``/``gen_ai.completion`` (JSON list of {role, content} or plain text) → messages."""
    value = _parse_json(value)
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return [_legacy_message(item.get("role") or default_role, item) for item in value]
    if value is None:
        return []
    return [{"role": default_role, "parts": _parts(value)}]


def _messages(value: Any) -> list[Any] | None:
    value = _parse_json(value)
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def content_from_events(events: Iterable[tuple[str, Any, dict[str, Any]]]) -> tuple[str | None, str | None]:
    """(input, output) JSON texts from ordered ``(event_name, body, attributes)`` of one span.

    Pure, so the span normalizer can use it for the same events carried as span events: pass
    ``(event["name"], None, event["attributes"])`` (a span event has no body; its message fields are attributes).
    """
    details: tuple[list | None, list | None] | None = None
    legacy_in: list[dict[str, Any]] = []
    choices: list[tuple[int, int, dict[str, Any]]] = []
    prompt: list[dict[str, Any]] = []
    completion: list[dict[str, Any]] = []
    for position, (name, body, attrs) in enumerate(events):
        if name == DETAILS_EVENT:
            source = body if isinstance(body, dict) else {}
            merged = {**source, **attrs}
            inputs = _messages(merged.get(sc.INPUT_MESSAGES))
            system = _messages(merged.get(sc.SYSTEM_INSTRUCTIONS))
            if system:
                inputs = [{"role": "system", "parts": system}, *(inputs or [])]
            details = (inputs, _messages(merged.get(sc.OUTPUT_MESSAGES)))
        elif name in MESSAGE_EVENTS:
            # log records carry the message in the body; span events (body None) in their attributes
            legacy_in.append(_legacy_message(MESSAGE_EVENTS[name], body if body is not None else attrs))
        elif name == CHOICE_EVENT:
            body = body if body is not None else attrs
            body = body if isinstance(body, dict) else {"message": {"content": body}}
            message = _legacy_message("assistant", _parse_json(body.get("message")) or {})
            message["finish_reason"] = body.get("finish_reason")
            index = body["index"] if isinstance(body.get("index"), int) else 0
            choices.append((index, position, message))
        elif name == PROMPT_EVENT:
            prompt = _as_messages(attrs.get(DEPRECATED_PROMPT, body), "user")
        elif name == COMPLETION_EVENT:
            completion = _as_messages(attrs.get(DEPRECATED_COMPLETION, body), "assistant")
    outputs = [message for _, _, message in sorted(choices, key=lambda c: (c[0], c[1]))]
    inputs_value = (details[0] if details else None) or legacy_in or prompt or None
    outputs_value = (details[1] if details else None) or outputs or completion or None
    return _dump(inputs_value), _dump(outputs_value)


def _dump(messages: list | None) -> str | None:
    return json.dumps(messages, ensure_ascii=False) if messages else None


# -- span updates ----------------------------------------------------------------------------------
def _chunks(items: list, size: int = ID_CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _stored_body(text: str | None) -> Any:
    return _parse_json(text) if text is not None else None


def _refresh_span_content(conn: Connection, span_keys: Iterable[tuple[str, str]]) -> int:
    """Recompute ``spans.input``/``output`` of ``span_keys`` from their stored content events."""
    wanted = set(span_keys)
    # per project: the events a key of one project sent never fill the span of another, whatever ids they name
    events: dict[tuple[str, str, str], list[tuple[str, Any, dict[str, Any]]]] = {}
    for chunk in _chunks(sorted({trace_id for trace_id, _ in wanted})):
        query = (
            select(LOGS.c.trace_id, LOGS.c.span_id, LOGS.c.project_id, LOGS.c.event_name, LOGS.c.body,
                   LOGS.c.attributes)
            .where(LOGS.c.trace_id.in_(chunk), LOGS.c.event_name.in_(sorted(CONTENT_EVENTS)))
            .order_by(func.coalesce(LOGS.c.time_unix_nano, 0), func.coalesce(LOGS.c.seq, 0), LOGS.c.id)
        )
        for row in conn.execute(query):
            if (row.trace_id, row.span_id) in wanted:
                key = (row.trace_id, row.span_id, row.project_id)
                events.setdefault(key, []).append((row.event_name, _stored_body(row.body), row.attributes or {}))
    updates = []
    seal = _sealer(conn.engine)
    for (trace_id, span_id, project), span_events in events.items():
        content_in, content_out = content_from_events(span_events)
        if content_in is not None or content_out is not None:
            updates.append({"t": trace_id, "s": span_id, "p": project, "i": seal(content_in), "o": seal(content_out)})
    if updates:
        conn.execute(
            update(SPANS)
            .where(SPANS.c.trace_id == bindparam("t"), SPANS.c.span_id == bindparam("s"),
                   SPANS.c.project_id == bindparam("p"))
            .values(
                input=func.coalesce(bindparam("i", type_=SPANS.c.input.type), SPANS.c.input),
                output=func.coalesce(bindparam("o", type_=SPANS.c.output.type), SPANS.c.output),
            ),
            updates,
        )
    return len(updates)


def _sealer(engine: Engine) -> Callable[[Any], Any]:
    """Encrypts a content value with the engine's keyring (a master key is set), else leaves it as is."""
    keyring = keyring_of(engine)
    if keyring is None:
        return lambda value: value
    return lambda value: value if value is None or is_encrypted(value) else keyring.encrypt(value)


def _encrypt_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Encryption at rest (``processors/encrypt.py``): bodies and content attributes of the log rows."""
    seal = _sealer(engine)
    for row in rows:
        if row.get("body") is not None:
            row["body"] = seal(row["body"])
        attributes = row.get("attributes")
        if attributes:
            for key in attributes.keys() & CONTENT_ATTRIBUTES:
                attributes[key] = seal(attributes[key])


def attach_pending_content(conn: Connection, span_keys: list[tuple[str, str]]) -> None:
    """Span-writer ``after_insert`` hook: pull stored GenAI content events onto newly inserted spans."""
    if span_keys:
        lock_traces(conn, (trace_id for trace_id, _ in span_keys))
        _refresh_span_content(conn, span_keys)


def write_logs(engine: Engine, request: ExportLogsServiceRequest) -> int:
    """Store every log record of ``request`` (idempotent) and attach GenAI content to stored spans.

    Returns the number of records accepted (stored now or already present).
    """
    rows = log_rows(request, redact_text)
    if not rows:
        return 0
    _encrypt_rows(engine, rows)
    content_keys = {
        (row["trace_id"], row["span_id"])
        for row in rows
        if row["event_name"] in CONTENT_EVENTS and row["trace_id"] and row["span_id"]
    }
    with classified(), write_transaction(engine) as conn:
        write_as(conn, {row["project_id"] for row in rows})  # PostgreSQL: bound to the key's project
        insert_on_conflict(conn, LOGS, rows, ("id",))
        if content_keys:
            # 1. spans already committed (may wait for a span writer's row locks: no trace lock held yet,
            #    so no deadlock); 2. take the trace locks, then catch the spans committed meanwhile. Span
            #    writers still running wait for our commit in attach_pending_content and then see these events.
            _refresh_span_content(conn, content_keys)
            lock_traces(conn, (trace_id for trace_id, _ in content_keys))
            _refresh_span_content(conn, content_keys)
    return len(rows)
