"""The LlamaIndex span and event handlers that emit GenAI semconv spans.

Two sources, one state:

- **Dispatcher spans** (``span_enter`` / ``span_exit`` / ``span_drop``): LlamaIndex opens one for every
  instrumented method (query engines, synthesizers, workflow steps …). Only these become OTel spans: the
  ``run`` of a workflow agent (``FunctionAgent``, ``ReActAgent``, ``CodeActAgent``, a multi-agent
  ``AgentWorkflow``) → ``invoke_agent {name}`` with the per-execution resources; an agent's ``call_tool``
  step (its ``ToolCall`` has the call id), or a tool's own ``call``/``acall`` outside such a step →
  ``execute_tool {tool}``. They are made current while they run. Every other dispatcher span is
  remembered only as a link to its nearest mapped ancestor (one dict entry), so what happens inside it
  nests under that ancestor.
- **Events**: ``LLMChatStart/End`` and ``LLMCompletionStart/End`` → ``chat {model}`` /
  ``text_completion {model}`` (CLIENT; usage, response model and finish reason from the response's
  ``raw`` answer or ``additional_kwargs``; time to first chunk from the in-progress events),
  ``EmbeddingStart/End`` → ``embeddings {model}``, ``RetrievalStart/End`` → ``retrieval {retriever}``,
  ``ExceptionEvent``, or the enclosing dispatcher span dropped with an error (a model call that raised
  sends no end event) → the open event spans of that dispatcher span end with the error. The model span
  is current and marked as the owner of the call while it runs, so the client instrumentor underneath
  (OpenAI SDK, httpx) makes no second span for it.

Classes and events are recognised by name (nothing from ``llama_index.core`` is imported). Handlers never
raise (the dispatcher would swallow it anyway; we also log it once).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._context import attach_span, detach, effective_context, suppressed
from agentotel.instrumentation._events import ContentEvents
from agentotel.instrumentation._guard import error_type, report
from agentotel.instrumentation._resources import begin as begin_resources
from agentotel.instrumentation._resources import close_agent
from agentotel.instrumentation.instruments import GenAIInstruments

try:
    from llama_index_instrumentation.event_handlers import BaseEventHandler
    from llama_index_instrumentation.span_handlers import BaseSpanHandler
except ImportError:  # llama-index-core before the split-out package
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

AGENT, TOOL, LLM, EMBEDDING, RETRIEVER = "agent", "tool", "llm", "embedding", "retriever"
AGENT_CLASSES = frozenset({"BaseWorkflowAgent", "AgentWorkflow"})
_MAX_OPEN = 20_000
# LlamaIndex LLM ``class_name()`` prefixes → semconv provider names
_PROVIDERS = (("azure", "azure.ai.openai"), ("openai", "openai"), ("anthropic", "anthropic"),
              ("bedrock", "aws.bedrock"), ("vertex", "gcp.vertex_ai"), ("gemini", "gcp.gemini"),
              ("google", "gcp.gen_ai"), ("mistral", "mistral_ai"), ("cohere", "cohere"), ("groq", "groq"),
              ("deepseek", "deepseek"), ("perplexity", "perplexity"), ("xai", "x_ai"), ("watsonx", "ibm.watsonx.ai"))


class _Entry:
    __slots__ = ("key", "span", "token", "kind", "name", "parent", "start", "resources", "metric_attrs",
                 "first_chunk", "event")

    def __init__(self, key: str, span: Any, kind: str, name: str | None, parent: _Entry | None) -> None:
        self.key = key
        self.span = span
        self.token: Any = None
        self.kind = kind
        self.name = name
        self.parent = parent
        self.start = perf_counter()
        self.resources: Any = None
        self.metric_attrs: dict[str, Any] = {}
        self.first_chunk: float | None = None
        self.event: dict[str, Any] | None = None


class State:
    """What both handlers share: telemetry objects, the open dispatcher spans and the open event spans."""

    def __init__(self, tracer: trace.Tracer, instruments: GenAIInstruments, content: ContentSettings,
                 events: ContentEvents | None = None) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.content = content
        self.events = events
        # dispatcher span id → its own entry (mapped) or its nearest mapped ancestor's (None: none)
        self.links: dict[str, _Entry | None] = {}
        # dispatcher span id → event-driven spans open in it (a stack: nested calls in one method)
        self.pending: dict[str, list[_Entry]] = {}
        self._agent_types: dict[type, bool] = {}
        self.lock = threading.Lock()

    def is_agent(self, instance: Any) -> bool:
        cls = type(instance)
        known = self._agent_types.get(cls)
        if known is None:
            known = any(c.__name__ in AGENT_CLASSES for c in cls.__mro__)
            self._agent_types[cls] = known
        return known

    def link(self, span_id: str | None) -> _Entry | None:
        return self.links.get(span_id) if span_id else None

    def remember(self, span_id: str, entry: _Entry | None) -> None:
        links = self.links
        if len(links) >= _MAX_OPEN:  # spans that never ended: bound the memory
            with self.lock:
                links.clear()
                self.pending.clear()
        links[span_id] = entry

    def start(self, key: str, name: str, kind: str, label: str | None, parent: _Entry | None,
              attrs: dict[str, Any], span_kind: SpanKind = SpanKind.INTERNAL, llm: bool = False) -> _Entry:
        ctx = effective_context()
        if parent is not None:
            ctx = trace.set_span_in_context(parent.span, ctx)
        span = self.tracer.start_span(name, ctx, span_kind, attrs)
        entry = _Entry(key, span, kind, label, parent)
        entry.token = attach_span(span, llm=llm)
        return entry

    @staticmethod
    def agent_name(entry: _Entry | None) -> str | None:
        while entry is not None:
            if entry.kind == AGENT:
                return entry.name
            entry = entry.parent
        return None

    def fail(self, entry: _Entry, err: BaseException | str) -> str:
        etype = error_type(err) if isinstance(err, BaseException) else "tool_error"
        span = entry.span
        if span.is_recording():
            span.set_attribute(sc.ERROR_TYPE, etype)
            span.set_status(Status(StatusCode.ERROR, str(err)[:1024]))
            if isinstance(err, BaseException):
                span.record_exception(err)
        return etype

    def close(self, entry: _Entry) -> None:
        if entry.token is not None:
            detach(entry.token)
            entry.token = None

    def abort(self, entry: _Entry, err: BaseException) -> None:
        """End an event span (model, embedding, retrieval) whose call failed."""
        self.close(entry)
        etype = self.fail(entry, err)
        if entry.event is not None and self.events is not None:
            self.events.emit(entry.span, {**entry.event, sc.ERROR_TYPE: etype})
        entry.span.end()
        if entry.kind in (LLM, EMBEDDING):
            self.instruments.record_duration(perf_counter() - entry.start, {**entry.metric_attrs, sc.ERROR_TYPE: etype})


# --- dispatcher spans ------------------------------------------------------------------------------------------
def _method(span_id: str) -> str:
    """``FunctionAgent.call_tool-<uuid>`` → ``call_tool``."""
    return span_id.split("-", 1)[0].rpartition(".")[2]


def _agent_label(instance: Any) -> str:
    name = getattr(instance, "name", None)
    if not isinstance(name, str) or not name or type(instance).__name__ == "AgentWorkflow":
        name = getattr(instance, "root_agent", None) or name
    return str(name or type(instance).__name__)


def _tool_name(instance: Any) -> str | None:
    """The name of a LlamaIndex tool (``FunctionTool``, ``QueryEngineTool`` …: ``metadata.name``), else ``None``."""
    metadata = getattr(instance, "metadata", None) if instance is not None else None
    name = getattr(metadata, "name", None)
    return name if isinstance(name, str) and name and hasattr(metadata, "description") else None


def _tool_call(bound_args: Any) -> Any:
    """The ``ToolCall`` event a ``call_tool`` step was given (``tool_name``, ``tool_kwargs``, ``tool_id``)."""
    arguments = getattr(bound_args, "arguments", None) or {}
    for value in arguments.values():
        if hasattr(value, "tool_name"):
            return value
    return None


class OTelSpanHandler(BaseSpanHandler[Any]):
    """Maps workflow-agent runs and tool-call steps onto OTel spans; remembers the others as links."""

    if TYPE_CHECKING:  # set by create() as a plain instance attribute (not a pydantic field)
        _state: State

    @classmethod
    def create(cls, state: State) -> OTelSpanHandler:
        handler = cls()  # type: ignore[call-arg]  # (the TYPE_CHECKING attributes are no fields)
        # a plain instance attribute: pydantic's private attributes go through __getattr__ on every read
        object.__setattr__(handler, "_state", state)
        return handler

    @classmethod
    def class_name(cls) -> str:
        return "AgentotelSpanHandler"

    def span_enter(self, id_: str, bound_args: Any, instance: Any = None, parent_id: str | None = None,
                   tags: dict[str, Any] | None = None, **kwargs: Any) -> None:
        state = self._state
        if state is None:
            return
        try:
            parent = state.link(parent_id)
            if suppressed():
                state.remember(id_, parent)
                return
            method = _method(id_)
            if method == "run" and instance is not None and state.is_agent(instance):
                label = _agent_label(instance)
                entry = state.start(id_, f"invoke_agent {label}", AGENT, label, parent,
                                    {sc.OPERATION: sc.OP_INVOKE_AGENT, sc.AGENT_NAME: label})
                entry.resources = begin_resources()
                state.remember(id_, entry)
                return
            call = None
            name: str | None
            if method == "call_tool":  # a workflow agent's tool-call step: its ToolCall event has the call id
                call = _tool_call(bound_args)
                name = str(call.tool_name) if call is not None else None
            elif method in ("call", "acall") and (parent is None or parent.kind != TOOL):
                name = _tool_name(instance)  # a tool called outside an agent step
            else:
                name = None
            if name is None:
                state.remember(id_, parent)
                return
            attrs: dict[str, Any] = {sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_NAME: name, sc.TOOL_TYPE: "function"}
            call_id = getattr(call, "tool_id", None)
            if isinstance(call_id, str) and call_id:
                attrs[sc.TOOL_CALL_ID] = call_id
            agent = state.agent_name(parent)
            if agent:
                attrs[sc.AGENT_NAME] = agent
            if state.content.on_span:
                arguments = getattr(call, "tool_kwargs", None) if call is not None else dict(
                    getattr(bound_args, "arguments", None) or {}).get("kwargs")
                attrs[sc.TOOL_CALL_ARGUMENTS] = state.content.dumps(arguments)
            state.remember(id_, state.start(id_, f"execute_tool {name}", TOOL, name, parent, attrs))
        except Exception as err:  # noqa: BLE001 - never break the host
            report("llama_index.span_enter", err)

    def span_exit(self, id_: str, bound_args: Any, instance: Any = None, result: Any = None,
                  **kwargs: Any) -> None:
        self._end(id_, result, None)

    def span_drop(self, id_: str, bound_args: Any, instance: Any = None, err: BaseException | None = None,
                  **kwargs: Any) -> None:
        self._end(id_, None, err)

    def _end(self, id_: str, result: Any, err: BaseException | None) -> None:
        state = self._state
        if state is None:
            return
        try:
            entry = state.links.pop(id_, None)
            if err is not None:  # a model call that raised: LlamaIndex sends no end event for it
                with state.lock:
                    stack = state.pending.pop(id_, None)
                for pending in reversed(stack or ()):
                    state.abort(pending, err)
            if entry is None or entry.key != id_:
                return
            state.close(entry)
            span = entry.span
            etype = None
            if err is not None:
                etype = state.fail(entry, err)
            elif entry.kind == TOOL:
                output = getattr(result, "tool_output", result)  # a step's ToolCallResult, or a ToolOutput
                if getattr(output, "is_error", False):
                    etype = state.fail(entry, str(getattr(output, "content", "") or "tool error"))
                if state.content.on_span and output is not None and span.is_recording():
                    span.set_attribute(sc.TOOL_CALL_RESULT,
                                       state.content.dumps(getattr(output, "content", None)))
            if entry.kind == AGENT:
                close_agent(entry.resources, span, state.instruments, entry.name)
            span.end()
            if entry.kind == AGENT:
                state.instruments.record_agent(entry.name, perf_counter() - entry.start, etype)
            else:
                state.instruments.record_tool(entry.name, etype)
        except Exception as ex:  # noqa: BLE001
            report("llama_index.span_exit", ex)

    # BaseSpanHandler's abstract hooks: unused, the three methods above are overridden
    def new_span(self, *args: Any, **kwargs: Any) -> None:
        return None

    def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
        return None

    def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- events -----------------------------------------------------------------------------------------------------
def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


_PROVIDER_CACHE: dict[str, str] = {}


def _provider(class_name: str) -> str:
    found = _PROVIDER_CACHE.get(class_name)
    if found is not None:
        return found
    low = class_name.lower()
    found = next((provider for prefix, provider in _PROVIDERS if prefix in low), None)
    if found is None:
        found = low.removesuffix("_llm").removesuffix("llm").strip("_") or "llama_index"
    if len(_PROVIDER_CACHE) < 256:
        _PROVIDER_CACHE[class_name] = found
    return found


def _model_attrs(model_dict: Any, operation: str) -> tuple[dict[str, Any], str | None]:
    """(metric attributes, model) of an LLM/embedding ``model_dict`` (``llm.to_dict()``)."""
    md = model_dict if type(model_dict) is dict or isinstance(model_dict, Mapping) else {}
    model = next((md[k] for k in ("model", "model_name", "model_id", "deployment_name")
                  if isinstance(md.get(k), str) and md[k]), None)
    attrs: dict[str, Any] = {sc.OPERATION: operation, sc.PROVIDER: _provider(str(md.get("class_name") or ""))}
    if model:
        attrs[sc.REQUEST_MODEL] = model
    base = md.get("api_base") or md.get("base_url")
    if isinstance(base, str) and "://" in base:
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        if parts.hostname:
            attrs[sc.SERVER_ADDRESS] = parts.hostname
            attrs[sc.SERVER_PORT] = parts.port or (443 if parts.scheme == "https" else 80)
    return attrs, model


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(response: Any) -> tuple[int | None, int | None]:
    """(input, output) tokens of a ChatResponse/CompletionResponse: its raw answer, else additional_kwargs."""
    usage = _get(_get(response, "raw"), "usage")
    if usage is not None:
        inp = _int(_get(usage, "prompt_tokens"))
        out = _int(_get(usage, "completion_tokens"))
        if inp is None and out is None:
            inp, out = _int(_get(usage, "input_tokens")), _int(_get(usage, "output_tokens"))
        if inp is not None or out is not None:
            return inp, out
    extra = _get(response, "additional_kwargs") or {}
    return _int(_get(extra, "prompt_tokens")), _int(_get(extra, "completion_tokens"))


def _message(msg: Any) -> dict[str, Any]:
    """A LlamaIndex ChatMessage as a semconv message (text and tool-call parts)."""
    role = _get(msg, "role")
    role = str(getattr(role, "value", role) or "user")
    parts: list[dict[str, Any]] = []
    for block in _get(msg, "blocks") or ():
        kind = type(block).__name__
        if kind == "TextBlock":
            parts.append({"type": "text", "content": _get(block, "text") or ""})
        elif kind == "ToolCallBlock":
            parts.append({"type": "tool_call", "id": _get(block, "tool_call_id"), "name": _get(block, "tool_name"),
                          "arguments": _get(block, "tool_kwargs")})
        else:
            parts.append({"type": kind.removesuffix("Block").lower() or "unknown"})
    if not parts and isinstance(_get(msg, "content"), str):
        parts.append({"type": "text", "content": _get(msg, "content")})
    if role == "tool":
        extra = _get(msg, "additional_kwargs") or {}
        text = " ".join(p.get("content", "") for p in parts if p.get("type") == "text")
        parts = [{"type": "tool_call_response", "id": _get(extra, "tool_call_id"), "response": text}]
    return {"role": role, "parts": parts}


class OTelEventHandler(BaseEventHandler):
    """Model, embedding and retrieval spans from LlamaIndex's instrumentation events."""

    if TYPE_CHECKING:  # set by create() as plain instance attributes (not pydantic fields)
        _state: State
        _handlers: dict[str, Any]

    @classmethod
    def create(cls, state: State) -> OTelEventHandler:
        handler = cls()  # type: ignore[call-arg]  # (the TYPE_CHECKING attributes are no fields)
        object.__setattr__(handler, "_state", state)  # plain attributes (see OTelSpanHandler.create)
        object.__setattr__(handler, "_handlers", {
            "LLMChatStartEvent": handler._llm_start, "LLMCompletionStartEvent": handler._llm_start,
            "LLMChatEndEvent": handler._llm_end, "LLMCompletionEndEvent": handler._llm_end,
            "LLMChatInProgressEvent": handler._llm_chunk, "LLMCompletionInProgressEvent": handler._llm_chunk,
            "EmbeddingStartEvent": handler._embedding_start, "EmbeddingEndEvent": handler._embedding_end,
            "RetrievalStartEvent": handler._retrieval_start, "RetrievalEndEvent": handler._retrieval_end,
            "ExceptionEvent": handler._exception,
        })
        return handler

    @classmethod
    def class_name(cls) -> str:
        return "AgentotelEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        handlers = self._handlers
        if handlers is None:
            return
        fn = handlers.get(type(event).__name__)
        if fn is None:
            return
        try:
            fn(event)
        except Exception as err:  # noqa: BLE001 - never break the host
            report(f"llama_index.{type(event).__name__}", err)

    # --- helpers ---
    def _open(self, event: Any, name: str, kind: str, label: str | None, attrs: dict[str, Any],
              span_kind: SpanKind, llm: bool) -> _Entry | None:
        state = self._state
        if suppressed():
            return None
        span_id = getattr(event, "span_id", None) or ""
        parent = state.link(span_id)
        agent = state.agent_name(parent)
        if agent and kind != RETRIEVER:
            attrs[sc.AGENT_NAME] = agent
        entry = state.start(span_id, name, kind, label, parent, attrs, span_kind, llm)
        with state.lock:
            state.pending.setdefault(span_id, []).append(entry)
        return entry

    def _take(self, event: Any, kind: str) -> _Entry | None:
        """The innermost open event span of ``kind`` in the event's dispatcher span."""
        state = self._state
        span_id = getattr(event, "span_id", None) or ""
        with state.lock:
            stack = state.pending.get(span_id)
            if not stack:
                return None
            for i in range(len(stack) - 1, -1, -1):
                if stack[i].kind == kind:
                    entry = stack.pop(i)
                    if not stack:
                        del state.pending[span_id]
                    return entry
        return None

    # --- models ---
    def _llm_start(self, event: Any) -> None:
        state = self._state
        chat = type(event).__name__.startswith("LLMChat")
        operation = sc.OP_CHAT if chat else sc.OP_TEXT_COMPLETION
        metric_attrs, model = _model_attrs(getattr(event, "model_dict", None), operation)
        attrs = dict(metric_attrs)
        name = f"{operation} {model}" if model else operation
        entry = self._open(event, name, LLM, name, attrs, SpanKind.CLIENT, llm=True)
        if entry is None:
            return
        entry.metric_attrs = metric_attrs
        content = state.content
        if content.capture and entry.span.is_recording():
            if chat:
                system: list[dict[str, Any]] = []
                messages: list[dict[str, Any]] = []
                for msg in getattr(event, "messages", None) or ():
                    item = _message(msg)
                    if item["role"] == "system":
                        system.extend(item["parts"])
                    else:
                        messages.append(item)
                request = {sc.INPUT_MESSAGES: content.dumps(messages)}
                if system:
                    request[sc.SYSTEM_INSTRUCTIONS] = content.dumps(system)
            else:
                request = {sc.INPUT_MESSAGES: content.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": str(getattr(event, "prompt", ""))}]}])}
            if content.on_span:
                entry.span.set_attributes(request)
            if state.events is not None:
                entry.event = {**attrs, **request}

    def _llm_chunk(self, event: Any) -> None:
        span_id = getattr(event, "span_id", None) or ""
        stack = self._state.pending.get(span_id)
        if stack and stack[-1].kind == LLM and stack[-1].first_chunk is None:
            stack[-1].first_chunk = perf_counter()

    def _llm_end(self, event: Any) -> None:
        state = self._state
        entry = self._take(event, LLM)
        if entry is None:
            return
        state.close(entry)
        response = getattr(event, "response", None)
        span = entry.span
        attrs: dict[str, Any] = {}
        inp, out = _usage(response)
        if inp is not None:
            attrs[sc.USAGE_INPUT] = inp
        if out is not None:
            attrs[sc.USAGE_OUTPUT] = out
        raw = _get(response, "raw")
        model = _get(raw, "model")
        if isinstance(model, str) and model:
            attrs[sc.RESPONSE_MODEL] = model
            entry.metric_attrs[sc.RESPONSE_MODEL] = model
        response_id = _get(raw, "id")
        if isinstance(response_id, str) and response_id:
            attrs[sc.RESPONSE_ID] = response_id
        choices = _get(raw, "choices")
        if isinstance(choices, list | tuple) and choices:
            reasons = tuple(str(_get(c, "finish_reason") or "") for c in choices)
            attrs[sc.RESPONSE_FINISH_REASONS] = reasons
        stream_times = None
        if entry.first_chunk is not None:
            ttfc = entry.first_chunk - entry.start
            attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            stream_times = (ttfc, None)
        content = state.content
        if content.capture and response is not None:
            message = _get(response, "message")
            output = _message(message) if message is not None else {
                "role": "assistant", "parts": [{"type": "text", "content": str(_get(response, "text") or "")}]}
            output["finish_reason"] = (attrs.get(sc.RESPONSE_FINISH_REASONS) or ("stop",))[0] or "stop"
            attrs[sc.OUTPUT_MESSAGES] = content.dumps([output])
        if entry.event is not None and state.events is not None:
            state.events.emit(span, {**entry.event, **attrs})
            if not content.on_span:
                attrs.pop(sc.OUTPUT_MESSAGES, None)
        if span.is_recording():
            span.set_attributes(attrs)
        span.end()
        state.instruments.record_call(entry.metric_attrs, perf_counter() - entry.start, (inp, out), stream_times)

    # --- embeddings ---
    def _embedding_start(self, event: Any) -> None:
        metric_attrs, model = _model_attrs(getattr(event, "model_dict", None), sc.OP_EMBEDDINGS)
        name = f"{sc.OP_EMBEDDINGS} {model}" if model else sc.OP_EMBEDDINGS
        entry = self._open(event, name, EMBEDDING, name, dict(metric_attrs), SpanKind.CLIENT, llm=True)
        if entry is not None:
            entry.metric_attrs = metric_attrs

    def _embedding_end(self, event: Any) -> None:
        state = self._state
        entry = self._take(event, EMBEDDING)
        if entry is None:
            return
        state.close(entry)
        span = entry.span
        if span.is_recording():
            embeddings = getattr(event, "embeddings", None) or ()
            span.set_attribute("agentotel.embeddings.count", len(embeddings))
            if embeddings and isinstance(embeddings[0], list | tuple):
                span.set_attribute(sc.EMBEDDINGS_DIMENSION_COUNT, len(embeddings[0]))
        span.end()
        state.instruments.record_duration(perf_counter() - entry.start, entry.metric_attrs)

    # --- retrieval ---
    def _retrieval_start(self, event: Any) -> None:
        state = self._state
        span_id = getattr(event, "span_id", None) or ""
        source = span_id.split("-", 1)[0].rpartition(".")[0] or "retriever"
        attrs: dict[str, Any] = {sc.OPERATION: sc.OP_RETRIEVAL, sc.DATA_SOURCE_ID: source}
        if state.content.on_span:
            query = getattr(event, "str_or_query_bundle", None)
            attrs[sc.RETRIEVAL_QUERY_TEXT] = state.content.clip(str(getattr(query, "query_str", query)))
        self._open(event, f"retrieval {source}", RETRIEVER, source, attrs, SpanKind.CLIENT, llm=False)

    def _retrieval_end(self, event: Any) -> None:
        state = self._state
        entry = self._take(event, RETRIEVER)
        if entry is None:
            return
        state.close(entry)
        if entry.span.is_recording():
            entry.span.set_attribute(sc.RETRIEVAL_DOCUMENTS_COUNT, len(getattr(event, "nodes", None) or ()))
        entry.span.end()

    # --- errors ---
    def _exception(self, event: Any) -> None:
        state = self._state
        span_id = getattr(event, "span_id", None) or ""
        with state.lock:
            stack = state.pending.get(span_id)
            entry = stack.pop() if stack else None
            if stack is not None and not stack:
                del state.pending[span_id]
        if entry is None:
            return
        err = getattr(event, "exception", None)
        state.abort(entry, err if isinstance(err, BaseException) else RuntimeError(str(err)))
