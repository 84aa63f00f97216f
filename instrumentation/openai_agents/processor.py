"""The Agents SDK ``TracingProcessor`` that turns the SDK's traces and spans into GenAI semconv spans.

Mapping (span data type → OTel span):

- a trace → ``invoke_workflow {workflow name}`` (INTERNAL; ``gen_ai.workflow.name``, the trace's
  ``group_id`` as ``gen_ai.conversation.id``), the root of the run;
- ``agent`` → ``invoke_agent {name}`` (INTERNAL), with the per-execution resources of
  ``agentotel.instrumentation._resources`` and the agent execution metrics;
- ``function`` → ``execute_tool {name}`` (``gen_ai.tool.type`` ``function``, ``extension`` for MCP tools),
  arguments/result only with content capture in a span mode;
- ``handoff`` → ``execute_tool transfer_to_{agent}`` (the SDK offers handoffs to the model as that tool),
  with ``agentotel.handoff.from_agent`` / ``.to_agent``;
- ``guardrail`` → ``execute_tool {name}`` (``gen_ai.tool.type`` ``guardrail``) with
  ``agentotel.guardrail.triggered``;
- ``mcp_tools`` → ``mcp list_tools {server}``, ``custom`` → a span named after it (both INTERNAL);
- ``generation`` / ``response`` (model calls), ``task`` / ``turn`` and the audio spans are not mapped: the
  model call is traced once, by the client instrumentor (OpenAI), under the agent span; their children
  nest under the nearest mapped ancestor.

Each mapped span is made current (OTel context) while the SDK span runs: the SDK starts and ends a span
in the task that runs it, so what runs inside — the OpenAI client call, a nested ``Runner.run`` of an
agent used as a tool, the user's own spans — nests beneath it. A span that ended while still current
in some context (an SDK span ended from another task) is skipped as a parent (``effective_context``).
An SDK span with an error ends with status ERROR and ``error.type`` (``tool_error`` for tools, else
``_OTHER``), the SDK's error message as the status description; an error the SDK puts on an unmapped
span (a guardrail tripwire lands on the turn span) goes to the nearest mapped ancestor (the agent).
"""

from __future__ import annotations

import threading
from time import perf_counter
from typing import Any

from agents.tracing import TracingProcessor
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._context import attach_span, detach, effective_context, suppressed
from agentotel.instrumentation._guard import report
from agentotel.instrumentation._resources import begin as begin_resources
from agentotel.instrumentation._resources import close_agent
from agentotel.instrumentation.instruments import GenAIInstruments

WORKFLOW, AGENT, TOOL, HANDOFF, GUARDRAIL, OTHER, SKIPPED = (
    "workflow", "agent", "tool", "handoff", "guardrail", "other", "skipped")
HANDOFF_FROM = "agentotel.handoff.from_agent"
HANDOFF_TO = "agentotel.handoff.to_agent"
GUARDRAIL_TRIGGERED = "agentotel.guardrail.triggered"
_MAX_OPEN = 10_000
_INTERNAL = SpanKind.INTERNAL


class _Entry:
    __slots__ = ("span", "token", "kind", "name", "parent", "start", "resources", "error")

    def __init__(self, span: Any, kind: str, name: str | None, parent: _Entry | None) -> None:
        self.span = span
        self.token: Any = None
        self.kind = kind
        self.name = name
        self.parent = parent
        self.start = perf_counter()
        self.resources: Any = None
        self.error: Any = None  # an error the SDK put on an unmapped span beneath (turn, task, response)


class OTelTracingProcessor(TracingProcessor):
    """Maps the SDK's traces/spans onto OTel spans (installed by ``OpenAIAgentsInstrumentor``); never raises."""

    def __init__(self, tracer: trace.Tracer, instruments: GenAIInstruments, content: ContentSettings) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._content = content
        self._open: dict[str, _Entry] = {}  # SDK span id (or trace id) → entry
        self._lock = threading.Lock()
        self.enabled = True

    # --- bookkeeping ----------------------------------------------------------------------------------------
    def _register(self, key: str, entry: _Entry) -> None:
        with self._lock:
            if len(self._open) >= _MAX_OPEN:  # spans that never ended: bound the memory
                self._open.clear()
            self._open[key] = entry

    def _pop(self, key: str) -> _Entry | None:
        with self._lock:
            return self._open.pop(key, None)

    def _parent(self, parent_id: str | None, trace_id: str | None) -> _Entry | None:
        """The nearest mapped ancestor: the parent span's entry (skipped ones pass on theirs), else the trace's."""
        entry = self._open.get(parent_id) if parent_id else None
        while entry is not None and entry.span is None:
            entry = entry.parent
        if entry is None and trace_id:
            entry = self._open.get(trace_id)
        return entry

    @staticmethod
    def _agent_name(entry: _Entry | None) -> str | None:
        while entry is not None:
            if entry.kind == AGENT:
                return entry.name
            entry = entry.parent
        return None

    def _start(self, key: str, name: str, kind: str, label: str | None, parent: _Entry | None,
               attrs: dict[str, Any]) -> _Entry:
        ctx = effective_context()
        if parent is not None and parent.span is not None:
            ctx = trace.set_span_in_context(parent.span, ctx)
        span = self._tracer.start_span(name, ctx, _INTERNAL, attrs)
        entry = _Entry(span, kind, label, parent)
        if kind == AGENT:
            entry.resources = begin_resources()
        entry.token = attach_span(span)
        self._register(key, entry)
        return entry

    # --- traces ---------------------------------------------------------------------------------------------
    def on_trace_start(self, trace_obj: Any) -> None:
        if not self.enabled:
            return
        try:
            if suppressed():
                return
            name = str(getattr(trace_obj, "name", None) or "Agent workflow")
            attrs: dict[str, Any] = {sc.OPERATION: sc.OP_INVOKE_WORKFLOW, sc.WORKFLOW_NAME: name}
            group = getattr(trace_obj, "group_id", None)
            if isinstance(group, str) and group:
                attrs[sc.CONVERSATION_ID] = group
            self._start(trace_obj.trace_id, f"invoke_workflow {name}", WORKFLOW, name, None, attrs)
        except Exception as err:  # noqa: BLE001 - a processor must never break the run
            report("openai_agents.trace_start", err)

    def on_trace_end(self, trace_obj: Any) -> None:
        try:
            entry = self._pop(trace_obj.trace_id)
            if entry is not None:
                self._finish(entry, None)
        except Exception as err:  # noqa: BLE001
            report("openai_agents.trace_end", err)

    # --- spans ----------------------------------------------------------------------------------------------
    def on_span_start(self, span: Any) -> None:
        if not self.enabled:
            return
        try:
            self._span_start(span)
        except Exception as err:  # noqa: BLE001
            report("openai_agents.span_start", err)

    def _span_start(self, span: Any) -> None:
        data = span.span_data
        kind_name = data.type
        parent = self._parent(span.parent_id, span.trace_id)
        if suppressed():
            self._register(span.span_id, _Entry(None, SKIPPED, None, parent))
            return
        attrs: dict[str, Any]
        if kind_name == "agent":
            name = str(data.name)
            attrs = {sc.OPERATION: sc.OP_INVOKE_AGENT, sc.AGENT_NAME: name}
            self._start(span.span_id, f"invoke_agent {name}", AGENT, name, parent, attrs)
        elif kind_name == "function":
            name = str(data.name)
            attrs = {sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_NAME: name,
                     sc.TOOL_TYPE: "extension" if getattr(data, "mcp_data", None) else "function"}
            agent = self._agent_name(parent)
            if agent:
                attrs[sc.AGENT_NAME] = agent
            self._start(span.span_id, f"execute_tool {name}", TOOL, name, parent, attrs)
        elif kind_name == "handoff":
            attrs = {sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_TYPE: "function"}
            source = getattr(data, "from_agent", None) or self._agent_name(parent)
            if source:
                attrs[HANDOFF_FROM] = str(source)
                attrs[sc.AGENT_NAME] = str(source)
            target = getattr(data, "to_agent", None)
            name = f"transfer_to_{target}" if target else "handoff"
            if target:
                attrs[HANDOFF_TO] = str(target)
                attrs[sc.TOOL_NAME] = name
            self._start(span.span_id, f"execute_tool {name}", HANDOFF, name, parent, attrs)
        elif kind_name == "guardrail":
            name = str(data.name)
            attrs = {sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_NAME: name, sc.TOOL_TYPE: "guardrail"}
            agent = self._agent_name(parent)
            if agent:
                attrs[sc.AGENT_NAME] = agent
            self._start(span.span_id, f"execute_tool {name}", GUARDRAIL, name, parent, attrs)
        elif kind_name == "mcp_tools":
            server = getattr(data, "server", None)
            name = f"mcp list_tools {server}" if server else "mcp list_tools"
            self._start(span.span_id, name, OTHER, name, parent, {})
        elif kind_name == "custom":
            name = str(getattr(data, "name", None) or "custom")
            self._start(span.span_id, name, OTHER, name, parent, {})
        else:  # generation, response (the client instrumentor traces the call), task, turn, audio
            self._register(span.span_id, _Entry(None, SKIPPED, None, parent))

    def on_span_end(self, span: Any) -> None:
        try:
            entry = self._pop(span.span_id)
            if entry is None:
                return
            if entry.span is None:
                error = getattr(span, "error", None)
                if error:  # e.g. a guardrail tripwire is put on the turn span: it is the agent's error
                    target = entry.parent
                    while target is not None and target.span is None:
                        target = target.parent
                    if target is not None and target.error is None:
                        target.error = error
                return
            self._finish(entry, span)
        except Exception as err:  # noqa: BLE001
            report("openai_agents.span_end", err)

    def _finish(self, entry: _Entry, span: Any) -> None:
        if entry.token is not None:
            detach(entry.token)
            entry.token = None
        otel = entry.span
        error = (getattr(span, "error", None) if span is not None else None) or entry.error
        etype = None
        if error:
            etype = "tool_error" if entry.kind == TOOL else sc.ERROR_OTHER
        recording = otel.is_recording()
        if recording:
            attrs: dict[str, Any] = {}
            data = span.span_data if span is not None else None
            if entry.kind == TOOL and self._content.on_span and data is not None:
                if data.input is not None:
                    attrs[sc.TOOL_CALL_ARGUMENTS] = self._content.clip(str(data.input))
                if data.output is not None:
                    attrs[sc.TOOL_CALL_RESULT] = self._content.dumps(data.output)
            elif entry.kind == HANDOFF and data is not None:
                target = getattr(data, "to_agent", None)
                if target:
                    name = f"transfer_to_{target}"
                    attrs[HANDOFF_TO] = str(target)
                    attrs[sc.TOOL_NAME] = name
                    otel.update_name(f"execute_tool {name}")
                    entry.name = name
            elif entry.kind == GUARDRAIL and data is not None:
                attrs[GUARDRAIL_TRIGGERED] = bool(getattr(data, "triggered", False))
            if etype is not None:
                attrs[sc.ERROR_TYPE] = etype
                message = error.get("message") if isinstance(error, dict) else str(error)
                otel.set_status(Status(StatusCode.ERROR, str(message or "")[:1024]))
            if attrs:
                otel.set_attributes(attrs)
        if entry.kind == AGENT:
            close_agent(entry.resources, otel, self._instruments, entry.name)
        otel.end()
        if entry.kind == AGENT:
            self._instruments.record_agent(entry.name, perf_counter() - entry.start, etype)
        elif entry.kind in (TOOL, HANDOFF):
            self._instruments.record_tool(entry.name, etype)

    # --- lifecycle ------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Nothing buffered here: the OTel span processors export (and ``instrument()``'s handle flushes)."""

    def force_flush(self) -> None:
        """See ``shutdown``."""
