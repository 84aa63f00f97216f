"""The callback handler that turns LangChain/LangGraph runs into GenAI semconv spans.

Spans follow the run tree (parent run → parent span). Each span is also made current while its run is
active, so calls made inside a run (an OpenAI SDK call, a user's own span) nest under it; the LLM span
is marked as owned so the OpenAI instrumentor makes no second span for the same call.
"""

from __future__ import annotations

import threading
from time import perf_counter
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._context import attach_span, detach, effective_context, suppressed
from agentotel.instrumentation._events import ContentEvents
from agentotel.instrumentation._guard import error_type, report
from agentotel.instrumentation._resources import begin as begin_resources
from agentotel.instrumentation._resources import close_agent
from agentotel.instrumentation._resources import end as end_resources
from agentotel.instrumentation.instruments import GenAIInstruments
from agentotel.instrumentation.langchain import utils

AGENT, WORKFLOW, CHAIN, LLM, TOOL, RETRIEVER = "agent", "workflow", "chain", "llm", "tool", "retriever"
_HIDDEN_TAG = "langsmith:hidden"
_MAX_RUNS = 10_000


class _Run:
    __slots__ = ("span", "token", "start", "kind", "name", "parent", "metric_attrs", "first_token", "agent", "event",
                 "resources")

    def __init__(self, span, kind, name, parent, metric_attrs=None) -> None:
        self.span = span
        self.token: Any = None
        self.start = perf_counter()
        self.kind = kind
        self.name = name
        self.parent = parent
        self.metric_attrs = metric_attrs
        self.first_token: float | None = None
        self.agent = kind == AGENT
        self.event: dict[str, Any] | None = None  # the content event's request part (event modes)
        self.resources: Any = None  # per-execution resources (agent runs and roots that may become one)


def _guarded(site: str):
    def decorate(fn):
        def method(self, *args: Any, **kwargs: Any) -> None:
            try:
                fn(self, *args, **kwargs)
            except Exception as err:  # noqa: BLE001 - a callback must never break the run
                report(f"langchain.{site}", err)

        method.__name__ = fn.__name__
        method.__doc__ = fn.__doc__
        return method

    return decorate


class OTelCallbackHandler(BaseCallbackHandler):
    """LangChain callback handler emitting spans and metrics (installed by ``LangChainInstrumentor``)."""

    run_inline = True  # same task/context as the run, so the attached context reaches the model call
    raise_error = False

    def __init__(self, tracer: trace.Tracer, instruments: GenAIInstruments, content: ContentSettings,
                 events: ContentEvents | None = None) -> None:
        super().__init__()
        self._tracer = tracer
        self._instruments = instruments
        self._content = content
        self._events = events
        self._runs: dict[UUID, _Run | None] = {}
        self._lock = threading.Lock()

    # --- helpers ---------------------------------------------------------------------------------------
    def _parent_context(self, parent_run_id: UUID | None):
        run = self._runs.get(parent_run_id) if parent_run_id is not None else None
        while run is not None and run.span is None:  # hidden runs pass their parent on
            run = run.parent
        if run is not None:
            return trace.set_span_in_context(run.span)
        return effective_context()

    def _parent_run(self, parent_run_id: UUID | None) -> _Run | None:
        return self._runs.get(parent_run_id) if parent_run_id is not None else None

    def _open(self, run_id: UUID, run: _Run, llm: bool = False) -> None:
        if run.span is not None:
            run.token = attach_span(run.span, llm=llm)
        with self._lock:
            if len(self._runs) >= _MAX_RUNS:  # runs that never ended (crashed hosts): bound the memory
                self._runs.clear()
            self._runs[run_id] = run

    def _close(self, run_id: UUID) -> _Run | None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is not None and run.token is not None:
            detach(run.token)
            run.token = None
        return run

    def _fail(self, run: _Run, error: BaseException) -> str:
        etype = error_type(error)
        span = run.span
        if span is not None and span.is_recording():
            span.set_attribute(sc.ERROR_TYPE, etype)
            span.set_status(Status(StatusCode.ERROR, str(error)[:1024]))
            span.record_exception(error)
        return etype

    def _promote(self, run: _Run | None) -> None:
        """A tool ran: the nearest agent above it, else the root workflow, is an agent run."""
        root = None
        while run is not None:
            if run.agent:
                return
            root = run
            run = run.parent
        if root is None or root.span is None or root.kind != WORKFLOW:
            return
        root.agent = True
        if root.span.is_recording():
            root.span.update_name(f"invoke_agent {root.name}")
            root.span.set_attributes({sc.OPERATION: sc.OP_INVOKE_AGENT, sc.AGENT_NAME: root.name})

    def _agent_name(self, run: _Run | None) -> str | None:
        while run is not None:
            if run.agent:
                return run.name
            run = run.parent
        return None

    # --- chains, agents, graphs -------------------------------------------------------------------------
    @_guarded("chain_start")
    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, tags=None, metadata=None,
                       **kwargs: Any) -> None:
        parent = self._parent_run(parent_run_id)
        if suppressed() or (tags and _HIDDEN_TAG in tags):
            self._open(run_id, _Run(None, CHAIN, "", parent))
            return
        metadata = metadata or {}
        name = utils.run_name(serialized, kwargs, "chain")
        agent_name = metadata.get(sc.AGENT_NAME) or metadata.get("agent_name")
        lc_agent = metadata.get("lc_agent_name")
        if lc_agent and lc_agent == name and (parent is None or self._agent_name(parent) != lc_agent):
            agent_name = lc_agent
        if not agent_name and name in utils.AGENT_NAMES:
            agent_name = name
        attrs: dict[str, Any] = {}
        if agent_name:
            kind, span_name = AGENT, f"invoke_agent {agent_name}"
            attrs[sc.OPERATION] = sc.OP_INVOKE_AGENT
            attrs[sc.AGENT_NAME] = str(agent_name)
            name = str(agent_name)
        elif parent is None:
            kind, span_name = WORKFLOW, f"invoke_workflow {name}"
            attrs[sc.OPERATION] = sc.OP_INVOKE_WORKFLOW
            attrs[sc.WORKFLOW_NAME] = name
        else:
            kind, span_name = CHAIN, name
        if parent is None:
            for key, attr in (("thread_id", sc.CONVERSATION_ID), ("conversation_id", sc.CONVERSATION_ID),
                              ("session_id", "session.id"), ("user_id", "user.id")):
                value = metadata.get(key)
                if isinstance(value, (str, int)):
                    attrs[attr] = str(value)
        span = self._tracer.start_span(span_name, self._parent_context(parent_run_id), SpanKind.INTERNAL, attrs)
        run = _Run(span, kind, name, parent)
        if kind in (AGENT, WORKFLOW):
            run.resources = begin_resources()
        self._open(run_id, run)

    def _end_chain(self, run_id: UUID, error: BaseException | None) -> None:
        run = self._close(run_id)
        if run is None or run.span is None:
            return
        etype = self._fail(run, error) if error is not None else None
        if run.agent:
            close_agent(run.resources, run.span, self._instruments, run.name)
        elif run.resources is not None:
            end_resources(run.resources)
        run.span.end()
        if run.agent:
            self._instruments.record_agent(run.name, perf_counter() - run.start, etype)

    @_guarded("chain_end")
    def on_chain_end(self, outputs, *, run_id, **kwargs: Any) -> None:
        self._end_chain(run_id, None)

    @_guarded("chain_error")
    def on_chain_error(self, error, *, run_id, **kwargs: Any) -> None:
        self._end_chain(run_id, error)

    # --- models -----------------------------------------------------------------------------------------
    def _start_model(self, operation, serialized, run_id, parent_run_id, metadata, kwargs, messages) -> None:
        parent = self._parent_run(parent_run_id)
        if suppressed():
            self._open(run_id, _Run(None, LLM, "", parent))
            return
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        model = utils.model_of(metadata, params)
        metric_attrs: dict[str, Any] = {sc.OPERATION: operation, sc.PROVIDER: utils.provider_of(metadata, params)}
        if model:
            metric_attrs[sc.REQUEST_MODEL] = model
        address, port = utils.server_of(serialized)
        if address:
            metric_attrs[sc.SERVER_ADDRESS] = address
            metric_attrs[sc.SERVER_PORT] = port
        attrs = dict(metric_attrs)
        utils.request_attributes(metadata, params, attrs)
        agent = self._agent_name(parent)
        if agent:
            attrs[sc.AGENT_NAME] = agent
        span_name = f"{operation} {model}" if model else operation
        span = self._tracer.start_span(span_name, self._parent_context(parent_run_id), SpanKind.CLIENT, attrs)
        run = _Run(span, LLM, span_name, parent, metric_attrs)
        if self._content.capture and span.is_recording():
            request = self._input_content(messages, params)
            if self._content.on_span:
                span.set_attributes(request)
            if self._events is not None:
                run.event = {**attrs, **request}
        self._open(run_id, run, llm=True)

    def _input_content(self, messages, params) -> dict[str, str]:
        content = self._content
        system: list[dict[str, Any]] = []
        out: list[dict[str, Any]] = []
        for message in messages:
            entry: dict[str, Any] = utils.message_dict(message) if not isinstance(message, str) else {
                "role": "user", "parts": [{"type": "text", "content": message}]}
            if entry["role"] == "system":
                system.extend(entry["parts"])
            else:
                out.append(entry)
        request = {sc.INPUT_MESSAGES: content.dumps(out)}
        if system:
            request[sc.SYSTEM_INSTRUCTIONS] = content.dumps(system)
        tools = params.get("tools")
        if tools:
            request[sc.TOOL_DEFINITIONS] = content.dumps(tools)
        return request

    @_guarded("chat_model_start")
    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, tags=None,
                            metadata=None, **kwargs: Any) -> None:
        flat = messages[0] if messages else []
        self._start_model(sc.OP_CHAT, serialized, run_id, parent_run_id, metadata, kwargs, flat)

    @_guarded("llm_start")
    def on_llm_start(self, serialized, prompts, *, run_id, parent_run_id=None, tags=None, metadata=None,
                     **kwargs: Any) -> None:
        self._start_model(sc.OP_TEXT_COMPLETION, serialized, run_id, parent_run_id, metadata, kwargs,
                          list(prompts or []))

    @_guarded("llm_new_token")
    def on_llm_new_token(self, token, *, run_id, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None and run.first_token is None:
            run.first_token = perf_counter()

    @_guarded("llm_end")
    def on_llm_end(self, response, *, run_id, **kwargs: Any) -> None:
        run = self._close(run_id)
        if run is None or run.span is None:
            return
        span = run.span
        attrs: dict[str, Any] = {}
        usage = utils.usage_of(response)
        for key, attr in (("input", sc.USAGE_INPUT), ("output", sc.USAGE_OUTPUT), ("cache_read", sc.USAGE_CACHE_READ),
                          ("cache_creation", sc.USAGE_CACHE_CREATION), ("reasoning", sc.USAGE_REASONING)):
            if key in usage and (usage[key] or key in ("input", "output")):
                attrs[attr] = usage[key]
        model, response_id, reasons = utils.response_details(response)
        if model:
            attrs[sc.RESPONSE_MODEL] = model
            run.metric_attrs[sc.RESPONSE_MODEL] = model
        if response_id:
            attrs[sc.RESPONSE_ID] = response_id
        if reasons:
            attrs[sc.RESPONSE_FINISH_REASONS] = tuple(reasons)
        if run.first_token is not None:
            ttfc = run.first_token - run.start
            attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            self._instruments.record_ttfc(ttfc, run.metric_attrs)
        if self._content.capture:
            attrs[sc.OUTPUT_MESSAGES] = self._content.dumps(utils.output_messages(response))
        if run.event is not None and self._events is not None:
            self._events.emit(span, {**run.event, **attrs})
            if not self._content.on_span:
                attrs.pop(sc.OUTPUT_MESSAGES, None)
        if span.is_recording():
            span.set_attributes(attrs)
        span.end()
        self._instruments.record_duration(perf_counter() - run.start, run.metric_attrs)
        self._instruments.record_usage(run.metric_attrs, usage.get("input"), usage.get("output"))

    @_guarded("llm_error")
    def on_llm_error(self, error, *, run_id, **kwargs: Any) -> None:
        run = self._close(run_id)
        if run is None or run.span is None:
            return
        etype = self._fail(run, error)
        if run.event is not None and self._events is not None:
            self._events.emit(run.span, {**run.event, sc.ERROR_TYPE: etype})
        run.span.end()
        self._instruments.record_duration(perf_counter() - run.start, {**run.metric_attrs, sc.ERROR_TYPE: etype})

    # --- tools ------------------------------------------------------------------------------------------
    @_guarded("tool_start")
    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, tags=None, metadata=None,
                      inputs=None, **kwargs: Any) -> None:
        parent = self._parent_run(parent_run_id)
        if suppressed():
            self._open(run_id, _Run(None, TOOL, "", parent))
            return
        name = utils.run_name(serialized, kwargs, "tool")
        attrs: dict[str, Any] = {sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_NAME: name, sc.TOOL_TYPE: "function"}
        call_id = kwargs.get("tool_call_id")
        if isinstance(call_id, str):
            attrs[sc.TOOL_CALL_ID] = call_id
        description = (serialized or {}).get("description")
        if isinstance(description, str) and description:
            attrs[sc.TOOL_DESCRIPTION] = description[:1024]
        self._promote(parent)
        agent = self._agent_name(parent)
        if agent:
            attrs[sc.AGENT_NAME] = agent
        if self._content.on_span:
            attrs[sc.TOOL_CALL_ARGUMENTS] = self._content.dumps(inputs if inputs is not None else input_str)
        span = self._tracer.start_span(f"execute_tool {name}", self._parent_context(parent_run_id),
                                       SpanKind.INTERNAL, attrs)
        self._open(run_id, _Run(span, TOOL, name, parent))

    @_guarded("tool_end")
    def on_tool_end(self, output, *, run_id, **kwargs: Any) -> None:
        run = self._close(run_id)
        if run is None or run.span is None:
            return
        if self._content.on_span and run.span.is_recording():
            result = getattr(output, "content", output)
            run.span.set_attribute(sc.TOOL_CALL_RESULT, self._content.dumps(result))
        if getattr(output, "status", None) == "error":  # ToolMessage from a handled tool error
            run.span.set_attribute(sc.ERROR_TYPE, "tool_error")
            run.span.set_status(Status(StatusCode.ERROR, str(getattr(output, "content", ""))[:1024]))
            self._instruments.record_tool(run.name, "tool_error")
        else:
            self._instruments.record_tool(run.name, None)
        run.span.end()

    @_guarded("tool_error")
    def on_tool_error(self, error, *, run_id, **kwargs: Any) -> None:
        run = self._close(run_id)
        if run is None or run.span is None:
            return
        etype = self._fail(run, error)
        run.span.end()
        self._instruments.record_tool(run.name, etype)

    # --- retrievers -------------------------------------------------------------------------------------
    @_guarded("retriever_start")
    def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, tags=None, metadata=None,
                           **kwargs: Any) -> None:
        parent = self._parent_run(parent_run_id)
        if suppressed():
            self._open(run_id, _Run(None, RETRIEVER, "", parent))
            return
        name = utils.run_name(serialized, kwargs, "retriever")
        attrs: dict[str, Any] = {sc.OPERATION: sc.OP_RETRIEVAL, sc.DATA_SOURCE_ID: name}
        if (metadata or {}).get("ls_vector_store_provider"):
            attrs[sc.PROVIDER] = str(metadata["ls_vector_store_provider"])
        if self._content.on_span:
            attrs[sc.RETRIEVAL_QUERY_TEXT] = self._content.clip(str(query))
        span = self._tracer.start_span(f"retrieval {name}", self._parent_context(parent_run_id), SpanKind.CLIENT,
                                       attrs)
        self._open(run_id, _Run(span, RETRIEVER, name, parent))

    @_guarded("retriever_end")
    def on_retriever_end(self, documents, *, run_id, **kwargs: Any) -> None:
        run = self._close(run_id)
        if run is None or run.span is None:
            return
        if run.span.is_recording():
            run.span.set_attribute(sc.RETRIEVAL_DOCUMENTS_COUNT, len(documents or ()))
        run.span.end()

    @_guarded("retriever_error")
    def on_retriever_error(self, error, *, run_id, **kwargs: Any) -> None:
        run = self._close(run_id)
        if run is None or run.span is None:
            return
        self._fail(run, error)
        run.span.end()
